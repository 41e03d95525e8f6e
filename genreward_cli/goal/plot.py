"""The frame-score figure of `select-frame` (as the paper's Fig. 8)."""

from __future__ import annotations

import contextlib
import re
import warnings
from pathlib import Path

import numpy as np


@contextlib.contextmanager
def one_glyph_warning(path: str | Path):
    """matplotlib warns once per character its font lacks (a CJK or emoji prompt in a title:
    a line each, twice); within this block they become one warning naming ``path`` and the
    characters, drawn as boxes. Other warnings pass through unchanged."""
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield
    finally:  # also when the plotting fails: what it warned about is not lost
        _report_glyphs(path, caught)


def _report_glyphs(path, caught: list) -> None:
    """``one_glyph_warning``'s warnings: the missing glyphs as one, the others as they were."""
    missing, fonts = {}, set()
    for w in caught:
        m = re.match(r"Glyph (\d+) .*missing from font\(s\) (.+?)\.?$", str(w.message))
        if m:
            missing[int(m.group(1))] = None
            fonts.add(m.group(2))
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if missing:
        warnings.warn(f"{path}: {len(missing)} characters that the figure's font "
                      f"({', '.join(sorted(fonts))}) lacks are drawn as boxes: "
                      f"{''.join(chr(c) for c in missing)}", stacklevel=4)


def plot_scores(path: str | Path, frames: np.ndarray, scores: np.ndarray, index: int,
                text: str, thumbnails: int = 8) -> Path:
    """CLIP score per frame with the chosen frame highlighted, and a row of thumbnails;
    written to ``path`` (png, or the format its suffix names). Characters the font lacks
    give one warning (``one_glyph_warning``)."""
    with one_glyph_warning(path):
        return _plot_scores(Path(path), frames, scores, index, text, thumbnails)


def _plot_scores(path: Path, frames: np.ndarray, scores: np.ndarray, index: int, text: str,
                 thumbnails: int) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    picks = sorted(set(np.linspace(0, len(frames) - 1, thumbnails).round().astype(int)) | {index})
    fig = plt.figure(figsize=(max(8, 1.1 * len(picks)), 4.2))
    grid = fig.add_gridspec(2, len(picks), height_ratios=(2.2, 1))
    ax = fig.add_subplot(grid[0, :])
    ax.plot(np.arange(len(scores)), scores, color="tab:blue", lw=1.5)
    ax.axvline(index, color="tab:red", lw=1.2, ls="--")
    ax.scatter([index], [scores[index]], color="tab:red", zorder=3,
               label=f"goal frame {index} ({scores[index]:.3f})")
    ax.set_xlabel("frame")
    ax.set_ylabel("CLIP cosine")
    ax.set_title(f'"{text}"', fontsize=10)
    ax.legend(loc="best", fontsize=8)
    for j, i in enumerate(picks):
        thumb = fig.add_subplot(grid[1, j])
        thumb.imshow(frames[i])
        thumb.set_xticks([])
        thumb.set_yticks([])
        thumb.set_title(str(i), fontsize=8, color="tab:red" if i == index else "black")
        if i == index:
            for side in thumb.spines.values():
                side.set_edgecolor("tab:red")
                side.set_linewidth(2.5)
    fig.tight_layout()
    from genreward_cli.store import save_figure

    save_figure(fig, path, dpi=110)
    plt.close(fig)
    return path
