"""The `inspect` stage: what an artifact holds (structure, attributes, provenance chain with
hash checks, a summary), and its frames exported as a video or an image."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from genreward_cli import store
from genreward_cli.errors import BadInput, GenrewardError
from genreward_cli.stages import Report
from genreward_cli.store import Artifact, open_artifact, recorded_candidates, sha256_file

MAX_GROUPS_SHOWN = 2


def run(path: str | os.PathLike, *, video: str | os.PathLike | None = None, episode: int = 0,
        fps: int = 8, frame: tuple[int, int, str | os.PathLike] | None = None, depth: int = 5,
        expect_kind: str | None = None, force: bool = False) -> Report:
    """Inspect the artifact ``path``: the report's summary is :func:`report` (parents followed
    ``depth`` generations), its line one sentence. With ``video``, episode ``episode``'s frames
    are written as a video (.mp4 or .gif, ``fps`` frames a second); with ``frame`` (EPISODE,
    STEP, OUT), that one frame as an image (.png, .jpg); the report then has ``exported``.

    Raises BadInput (exit code 2) for a file that is no artifact (or not of ``expect_kind``),
    a kind without frames or an index out of range when exporting, or an existing export
    without ``force``.
    """
    from genreward_cli import media

    if video:
        store.check_output(media.check_video_path(video), force, [path])
    if frame:
        store.check_output(media.check_image_path(frame[2]), force, [path])
    with store.open_artifact(path, expect_kind) as art:
        rep = report(art, depth=depth)
        if video:
            media.write_video(video, frames(art, episode), fps=fps)
            rep["exported"] = {"video": str(video)}
        if frame:
            episode_frames = frames(art, frame[0])
            if not 0 <= frame[1] < len(episode_frames):
                raise bad_index(art, "step", frame[1], len(episode_frames))
            media.write_image(frame[2], episode_frames[frame[1]])
            rep.setdefault("exported", {})["frame"] = str(frame[2])
    bad = sum(p["status"] != "ok" for p in rep["provenance"])
    line = (f"{rep['path']}: {rep['kind']}, {len(rep['provenance'])} parents"
            f"{f' ({bad} not ok)' if bad else ''}, {len(rep['datasets'])} datasets shown")
    return Report(line, rep)


def bad_index(art: Artifact, what: str, index: int, count: int) -> BadInput:
    """The BadInput for an index out of range: ``FILE: WHAT INDEX out of range (...)``."""
    return BadInput(f"{art.path}: {what} {index} out of range (the file has {count})")


def frames(art: Artifact, episode: int) -> np.ndarray:
    """The video frames of an artifact, uint8 [F,H,W,3]; ``episode`` picks one of several."""
    template = art.kind.frames
    if template is None:
        raise BadInput(f"{art.path}: kind '{art.kind.name}' holds no frames to export")
    if "<k>" in template:
        names = art.groups()
        if not 0 <= episode < len(names):
            raise bad_index(art, "episode", episode, len(names))
        template = template.replace("<k>", names[episode])
    return art.file[template][()]


def _attr(value: Any) -> Any:
    if isinstance(value, (bytes, str)):
        return store.text(value)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def find_parent(entry: dict, artifact: str | Path) -> tuple[Path | None, str]:
    """Where the parent ``entry`` ({path, kind, sha256}) of ``artifact`` is now, and its status.

    An absolute path is looked up as is. A relative one (written before paths were recorded
    absolute) is tried against the current directory, then against ``artifact``'s directory.
    The first candidate whose sha256 matches wins (status ``ok``); else the first that exists
    (``changed since use``); else ``(None, "missing")``.
    """
    existing = [Path(c) for c in recorded_candidates(entry["path"], artifact) if Path(c).is_file()]
    for path in existing:
        if sha256_file(path) == entry.get("sha256"):
            return path, "ok"
    if existing:
        return existing[0], "changed since use"
    return None, "missing"


def _provenance(parents: list[dict], depth: int, artifact: str | Path) -> list[dict]:
    """Each parent of ``artifact`` with its hash checked: ok / changed / missing, and its own
    parents (to ``depth`` levels)."""
    out = []
    for p in parents:
        entry = dict(p)
        path, entry["status"] = find_parent(p, artifact)
        if path is not None and str(path) != p["path"]:
            entry["found_at"] = str(path)
        if entry["status"] == "ok" and depth > 1:
            try:
                with open_artifact(path) as parent:
                    entry["parents"] = _provenance(parent.parents, depth - 1, path)
            except GenrewardError as e:
                entry["status"] = f"unreadable: {e}"
        out.append(entry)
    return out


def _datasets(h5: h5py.Group, skip_groups: str | None) -> list[dict]:
    items: list[dict] = []
    shown: dict[str, int] = {}

    def visit(name, obj):
        parts = name.split("/")
        if skip_groups and len(parts) >= 2 and parts[0] == skip_groups:
            shown.setdefault(parts[1], len(shown))
            if shown[parts[1]] >= MAX_GROUPS_SHOWN:
                return
        if isinstance(obj, h5py.Dataset):
            items.append({
                "path": name,
                "shape": list(obj.shape),
                "dtype": str(obj.dtype),
                "compression": obj.compression,
            })

    h5.visititems(visit)
    return items


def _summary(art: Artifact) -> dict[str, Any]:
    if art.kind.name == "agent_log":
        return _agent_log_summary(art.file)
    if art.kind.name == "eval":
        from genreward_cli.stages.acting import NO_EPISODE, returns_summary

        s = returns_summary(art.file["return"][()], art.file["success"][()])
        out = {"episodes": s["episodes"], "return_mean": s["mean"], "return_std": s["std"],
               "success_rate": s["success_rate"]}
        return out if s["episodes"] else {**out, "note": NO_EPISODE}
    if art.kind.name != "episodes":
        return {}
    h5 = art.file
    lengths, returns, agent_returns, success = [], [], [], []
    for k in art.groups():
        g = h5[f"episodes/{k}"]
        lengths.append(int(g["action"].shape[0]))
        returns.append(float(g["env_reward"][()].sum()))
        agent_returns.append(float(g["reward"][()].sum()))
        success.append(bool(g["success"][()].any()))
    first = h5[f"episodes/{art.groups()[0]}/image"]
    return {
        "episodes": len(lengths),
        "steps": int(sum(lengths)),
        "length": [min(lengths), max(lengths)],
        "image": list(first.shape[1:]),
        "env_return_mean": float(np.mean(returns)),
        "env_return_std": float(np.std(returns)),
        "reward_return_mean": float(np.mean(agent_returns)),
        "success_rate": float(np.mean(success)),
    }


def _agent_log_summary(h5) -> dict[str, Any]:
    ret, succ = h5["episodes/return"][()], h5["episodes/success"][()]
    out = {"steps": int(h5.attrs["steps"]), "updates": int(h5.attrs["updates"]),
           "episodes": int(len(ret)),
           "last10_return_mean": float(ret[-10:].mean()) if len(ret) else None,
           "last10_success_rate": float(succ[-10:].mean()) if len(ret) else None,
           "evaluations": int(len(h5["eval/step"]))}
    if not len(ret):
        from genreward_cli.stages.acting import NO_EPISODE

        out["note"] = f"{NO_EPISODE} (a run shorter than one episode)"
    if len(h5["eval/step"]):
        out["last_eval_return_mean"] = float(h5["eval/return"][-1].mean())
        out["last_eval_success_rate"] = float(h5["eval/success"][-1].mean())
    return out


def report(art: Artifact, depth: int = 5) -> dict[str, Any]:
    """What `inspect` shows of ``art``, JSON-ready: attrs, provenance (parents checked to
    ``depth`` levels), summary, datasets. Raises BadInput if a dataset cannot be read."""
    attrs = {k: _attr(v) for k, v in art.attrs.items()}
    for key in ("config", "parents", "versions"):
        if key in attrs:
            attrs[key] = json.loads(attrs[key])
    return {
        "path": str(art.path),
        "kind": art.kind.name,
        "attrs": attrs,
        "provenance": _provenance(art.parents, depth, art.path),
        "summary": _summary(art),
        "datasets": _datasets(art.file, art.kind.group),
        "groups": len(art.groups()),
        "warnings": art.warnings,
    }


def print_report(rep: dict[str, Any]) -> None:
    """Print a :func:`report` as a tree on stdout, its warnings on stderr."""
    from genreward_cli.progress import console as make_console
    from rich.tree import Tree

    console = make_console()
    attrs = rep["attrs"]
    root = Tree(f"[bold]{rep['path']}[/] ([cyan]{rep['kind']}[/], schema {attrs.get('schema_version')})")
    meta = root.add("provenance")
    meta.add(f"producer: {attrs.get('producer')}")
    meta.add(f"created: {attrs.get('created_at')}")
    versions = attrs.get("versions", {})
    meta.add("versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()))

    def add_parents(node, parents):
        for p in parents:
            colour = "green" if p["status"] == "ok" else "red"
            where = f" (at {p['found_at']})" if "found_at" in p else ""
            child = node.add(f"{p['path']}{where} ({p['kind']}) [{colour}]{p['status']}[/]")
            add_parents(child, p.get("parents", []))

    parents = meta.add(f"parents ({len(rep['provenance'])})")
    add_parents(parents, rep["provenance"])
    config = root.add("config")
    for k, v in sorted(attrs.get("config", {}).items()):
        config.add(f"{k} = {v}")
    other = {k: v for k, v in attrs.items()
             if k not in ("config", "parents", "versions", "producer", "created_at", "kind",
                          "schema_version")}
    if other:
        node = root.add("attrs")
        for k, v in other.items():
            node.add(f"{k} = {v}")
    data = root.add(f"datasets (first {MAX_GROUPS_SHOWN} of {rep['groups']} groups)"
                    if rep["groups"] > MAX_GROUPS_SHOWN else "datasets")
    for d in rep["datasets"]:
        comp = f", {d['compression']}" if d["compression"] else ""
        data.add(f"{d['path']}  {d['dtype']} {d['shape']}{comp}")
    if rep["summary"]:
        node = root.add("summary")
        for k, v in rep["summary"].items():
            node.add(f"{k}: {v:.3f}" if isinstance(v, float) else f"{k}: {v}")
    console.print(root)
    err = make_console(stderr=True)
    for w in rep["warnings"]:
        err.print(f"[yellow]Warning:[/] {w}")
