"""Goal-frame selection with OpenCLIP (paper eq. 6).

I* = argmax_i cos(CLIP_L(G), CLIP_I(I_i)) over the frames of the goal video. Ties go to the
earliest frame. `tiny` is an OpenCLIP ViT at a CPU size (64 px, 2 layers) with random weights,
whose config and checkpoint are materialised in the cache directory and loaded through
``open_clip.create_model_and_transforms(name, pretrained=<checkpoint path>)``, the path a real
local checkpoint takes.

What the encoders see. Images: by default (``crop="none"``) the whole frame, resized to the
model's square input without keeping its aspect ratio (as the DINOv3 encoder of
``encode-goal`` does), so a 480x720 CogVideoX frame counts edge to edge. ``"pad"`` keeps the
aspect ratio and pads the short side (black); ``"center"`` is OpenCLIP's own preprocessing
(resize the short side, centre crop), which never sees the sides of a wide frame. Text: CLIP
reads ``context_length`` tokens (77); a longer text is cut by the tokenizer. ``text_seen``
gives the text the model actually read, and a longer text warns once (one line).
"""

from __future__ import annotations

import json
import warnings

import numpy as np

from genreward_cli.errors import BadInput

DEFAULT_CLIP_MODEL = "ViT-B-32"
DEFAULT_CLIP_PRETRAINED = "laion2b_s34b_b79k"  # as the paper's code
# --clip-crop: how a frame becomes the model's square input (OpenCLIP's resize modes).
CLIP_CROPS = {"none": "squash", "pad": "longest", "center": "shortest"}
DEFAULT_CLIP_CROP = "none"
CLIP_CROP_HELP = ("How frames reach CLIP's square input. `none`: the whole frame, resized to the "
                  "square (aspect ratio not kept); `pad`: the whole frame, aspect ratio kept, "
                  "padded with black; `center`: OpenCLIP's default, the short side resized and the "
                  "centre cropped (the sides of a wide frame are not seen).")
TINY_NAME = "genreward-tiny-clip"
TINY_CONFIG = {
    "embed_dim": 64,
    "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "patch_size": 16},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}


def _tiny_checkpoint() -> str:
    import open_clip
    import torch

    from genreward_cli import __version__
    from genreward_cli.model_files import cached_preset

    def write(directory):
        directory.mkdir(parents=True)
        (directory / f"{TINY_NAME}.json").write_text(json.dumps(TINY_CONFIG))
        open_clip.add_model_config(directory / f"{TINY_NAME}.json")
        torch.manual_seed(0)
        model = open_clip.create_model(TINY_NAME, pretrained=None)
        torch.save(model.state_dict(), directory / "open_clip_model.pt")

    folder = cached_preset(f"tiny-clip-{__version__}", "open_clip_model.pt", write)
    open_clip.add_model_config(folder / f"{TINY_NAME}.json")
    return str(folder / "open_clip_model.pt")


def _unknown_architecture(model: str) -> str:
    """Why ``model`` is not an OpenCLIP architecture, with the closest names (case and
    separators ignored) rather than OpenCLIP's whole list."""
    import difflib

    import open_clip

    names = open_clip.list_models()
    key = {n.lower().replace("/", "-").replace("_", "-"): n for n in names}
    close = difflib.get_close_matches(model.lower().replace("/", "-").replace("_", "-"),
                                      list(key), n=4, cutoff=0.6)
    hint = f"closest: {', '.join(key[c] for c in close)}" if close else \
        f"the default is {DEFAULT_CLIP_MODEL}"
    return (f"not an OpenCLIP architecture ({hint}; `open_clip.list_models()` lists all "
            f"{len(names)}, and `tiny` is the built-in test model)")


class FrameScorer:
    """CLIP text-image cosine for every frame of a video; eval mode, batched.

    Args:
        model: an OpenCLIP architecture name, or ``tiny`` (built-in, random weights).
        pretrained: an OpenCLIP pretrained tag or a local checkpoint path (ignored for tiny).
        device: torch device string.
        batch_size: frames per forward pass.
        crop: how a frame becomes the square input, a key of ``CLIP_CROPS`` (module docstring).
    Raises:
        BadInput: an unknown crop, or a model/weights that cannot be loaded.
    """

    def __init__(self, model: str = DEFAULT_CLIP_MODEL, pretrained: str | None = DEFAULT_CLIP_PRETRAINED,
                 device: str = "cpu", batch_size: int = 64, crop: str = DEFAULT_CLIP_CROP):
        import logging

        import open_clip

        from genreward_cli.model_files import hub_access

        if crop not in CLIP_CROPS:
            raise BadInput(f"--clip-crop {crop}: expected one of {', '.join(CLIP_CROPS)}")
        logging.getLogger().setLevel(logging.ERROR)  # open_clip logs through the root logger
        name = model
        if model == "tiny":
            # the default is no choice of the user's, and '' (no weights) is what tiny has
            if pretrained not in (DEFAULT_CLIP_PRETRAINED, ""):
                warnings.warn(f"--clip-pretrained {pretrained}: not read; --clip-model tiny "
                              "has its own random weights", stacklevel=2)
            name, pretrained = TINY_NAME, _tiny_checkpoint()
        hub_access()
        root = logging.getLogger()
        level, root.level = root.level, logging.CRITICAL  # its download failure too: we say it
        try:
            clip, _, preprocess = open_clip.create_model_and_transforms(
                name, pretrained=pretrained or None, device=device,
                image_resize_mode=CLIP_CROPS[crop])
        except (RuntimeError, OSError, ValueError) as e:
            reason = " ".join(str(e).split())
            if reason.startswith("Model config for") and "not found" in reason:
                reason = _unknown_architecture(model)  # not OpenCLIP's list of ~150 names
            elif "Failed to download" in reason:
                reason = ("its weights are not in the local cache and cannot be downloaded "
                          "here: download them where there is network, or give a checkpoint "
                          "file with --clip-pretrained (or --clip-model tiny for tests)")
            raise BadInput(f"--clip-model {model} --clip-pretrained {pretrained}: cannot load: "
                           f"{reason}") from None
        finally:
            root.level = level
        self.model = clip.eval().requires_grad_(False)
        self.preprocess = preprocess
        self.tokenizer = open_clip.get_tokenizer(name)
        self.device = device
        self.batch_size = batch_size
        self.crop = crop
        self.name = model
        self.pretrained = pretrained if model != "tiny" else "tiny"
        self._text_cache: dict[str, "torch.Tensor"] = {}

    @property
    def context_length(self) -> int | None:
        """How many tokens (start and end included) the text tower reads; None if unknown."""
        return getattr(self.tokenizer, "context_length", None)

    def text_seen(self, text: str) -> tuple[str, int]:
        """The part of ``text`` the text tower reads, and the token count of the whole text.

        Returns ``(text, n)`` unchanged when it fits ``context_length`` (start and end tokens
        included); otherwise the decoded tokens that were kept (lower-cased, whitespace
        normalised by CLIP's tokenizer). Tokenizers other than OpenCLIP's BPE and Hugging Face
        ones are not inspected: ``(text, 0)``.
        """
        import open_clip.tokenizer as tk

        tok, ctx = self.tokenizer, self.context_length
        if isinstance(tok, tk.SimpleTokenizer):
            total = len(tok.encode(text)) + 2  # + start and end tokens
            if total <= ctx:
                return text, total
            special = {tok.sot_token_id, tok.eot_token_id, 0}
            kept = [int(i) for i in tok([text])[0] if int(i) not in special]
            return " ".join(tok.decode(kept).split()), total
        if isinstance(tok, tk.HFTokenizer):
            total = len(tok.tokenizer(text)["input_ids"])
            if ctx is None or total <= ctx:
                return text, total
            kept = tok([text])[0].tolist()
            return tok.tokenizer.decode(kept, skip_special_tokens=True).strip(), total
        return text, 0

    def encode_text(self, text: str) -> "torch.Tensor":
        """CLIP_L(text), L2-normalised: float32 [D] on ``device``; cached per text.

        A text longer than ``context_length`` tokens is cut by the tokenizer: the first time,
        one warning names the token counts and the text kept (see ``text_seen``)."""
        import torch

        if text not in self._text_cache:
            seen, total = self.text_seen(text)
            if seen != text:
                tail = seen if len(seen) <= 40 else "..." + seen[-40:]
                warnings.warn(
                    f"the text is {total} CLIP tokens but {self.name} reads {self.context_length}: "
                    f"everything after {tail!r} is ignored", stacklevel=2)
            with torch.inference_mode():
                t = self.model.encode_text(self.tokenizer([text]).to(self.device)).float()[0]
            self._text_cache[text] = t / t.norm()
        return self._text_cache[text]

    def encode_images(self, frames: np.ndarray) -> "torch.Tensor":
        """CLIP_I of each frame, L2-normalised: float32 [F, D] on ``device``.

        Args:
            frames: uint8 [F, H, W, 3], RGB, any size; each is brought to the model's input
                as ``crop`` says (whole frame by default).
        Raises:
            BadInput: wrong dtype or shape, or no frames.
        """
        import torch
        from PIL import Image

        if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
            raise BadInput(f"frames must be uint8 [F,H,W,3], got {frames.dtype} {list(frames.shape)}")
        if len(frames) == 0:
            raise BadInput("the video has no frames")
        out = []
        with torch.inference_mode():
            for start in range(0, len(frames), self.batch_size):
                batch = torch.stack([self.preprocess(Image.fromarray(f))
                                     for f in frames[start:start + self.batch_size]])
                v = self.model.encode_image(batch.to(self.device)).float()
                out.append(v / v.norm(dim=-1, keepdim=True))  # B x D
        return torch.cat(out)

    def scores(self, frames: np.ndarray, text: str) -> np.ndarray:
        """Eq. 6's similarities.

        Args:
            frames: uint8 [F, H, W, 3], RGB (see ``encode_images``).
            text: the task description G (see ``encode_text``: warns if cut).
        Returns:
            float32 [F], cos(CLIP_L(G), CLIP_I(I_i)) for each frame.
        Raises:
            BadInput: frames of the wrong dtype or shape, or none.
        """
        import torch

        v = self.encode_images(frames)
        t = self.encode_text(text)
        with torch.inference_mode():
            return (v @ t).cpu().numpy().astype(np.float32)


def select(scores: np.ndarray, k: int = 5) -> tuple[int, np.ndarray]:
    """The argmax (earliest on ties) and the top-k indices, best first (stable on ties)."""
    order = np.argsort(-scores, kind="stable")
    return int(order[0]), order[:k].astype(np.int64)
