"""S3D-G with its MIL-NCE text tower (Miech et al., CVPR 2020), the network RoboCLIP scores with.

A joint text-video embedding trained on HowTo100M: a video clip and a sentence each map to a
vector (512-d for the published model) and their dot product is their similarity. Written
from antoine77340/S3D_HowTo100M (Apache-2.0), ``s3dg.py`` (commit b8cd0bb), and loads that
repository's published files, ``s3d_howto100m.pth`` (a state dict in its key layout) and
``s3d_dict.npy`` (its word list):

- video (``S3DVideo``): S3D-G (Xie et al., ECCV 2018) with the authors' space-to-depth stem:
  input float [B, 3, T, H, W] with T, H, W even; the stem folds each 2x2x2 block into
  channels, a 2x4x4 convolution, TF-style "SAME" max pools, separable 3D convolutions
  (spatial 1x3x3 then temporal 3x1x1), feature gating after conv 2c and in every branch of
  the nine inception blocks 3b..5c, a global average and a linear map to the embedding.
  Fully convolutional in time and space; the authors recommend T = 32 (16 works) and
  H, W in 200..256 (their README).
- text (``SentenceEncoder``): lower-case the sentence, split it into words (runs of letters,
  digits, underscores and apostrophes), look each word up in the dictionary (token = its
  position + 1; 0 is padding), drop the words not in it, keep the first ``max_words`` (16)
  and pad with 0; embed each token (a 300-d word2vec table of 66,250 rows), ReLU(linear to
  2048), max over the 16 positions (padding included), linear to the embedding.

Weights: ``load_s3d(DIR)`` reads ``DIR/s3d_howto100m.pth`` and ``DIR/s3d_dict.npy`` (the
names in the authors' README), infers the channel widths from the tensors' shapes and
converts the keys to this module's layout (``published_key_map``); ``save_s3d`` writes the
authors' layout, so a model round-trips. ``tiny`` is the same classes at a CPU size (a few
channels, a dictionary of the Meta-World task descriptions' words, random weights), written
once into the cache directory in the authors' layout and loaded back through ``load_s3d``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from genreward_cli.errors import BadInput
from genreward_cli.store import text

WEIGHTS_FILE = "s3d_howto100m.pth"  # the authors' file names (S3D_HowTo100M README.md)
DICT_FILE = "s3d_dict.npy"
TINY = "tiny"
MAX_WORDS = 16  # Sentence_Embedding's default in s3dg.py, the one RoboCLIP uses
# The nine inception blocks in order; a max pool comes before 4b and before 5b.
BLOCKS = ("3b", "3c", "4b", "4c", "4d", "4e", "4f", "5b", "5c")
# Per block: 1x1 branch, 3x3x3 branch (reduce, out), second 3x3x3 branch (reduce, out), pool
# branch: the Inception-v1 widths that S3D-G keeps (s3dg.py, S3D.__init__).
PUBLISHED_WIDTHS = (
    (64, 96, 128, 16, 32, 32), (128, 128, 192, 32, 96, 64),
    (192, 96, 208, 16, 48, 64), (160, 112, 224, 24, 64, 64), (128, 128, 256, 24, 64, 64),
    (112, 144, 288, 32, 64, 64), (256, 160, 320, 32, 128, 128),
    (256, 160, 320, 32, 128, 128), (384, 192, 384, 48, 128, 128),
)
# The word splitter of s3dg.py (Sentence_Embedding._split_text), applied to the lower-cased text.
WORD = re.compile(r"[\w']+")


@dataclass(frozen=True)
class S3DConfig:
    """Widths of S3D-G and its text tower; the defaults are the published model's.

    ``vocab_rows`` counts the rows of the word table (token 0, padding, included)."""

    stem: int = 64  # conv 1 and conv 2b channels
    conv2c: int = 192
    widths: tuple = PUBLISHED_WIDTHS
    embed_dim: int = 512
    vocab_rows: int = 66250
    word_dim: int = 300
    text_hidden: int = 2048
    max_words: int = MAX_WORDS

    @staticmethod
    def block_out(w) -> int:
        """Channels out of an inception block of widths ``w`` (its four branches)."""
        return w[0] + w[2] + w[4] + w[5]


TINY_CONFIG = S3DConfig(stem=8, conv2c=16, widths=((4, 4, 8, 2, 4, 4),) * 9, embed_dim=16,
                        vocab_rows=0, word_dim=8, text_hidden=32)  # vocab_rows: from its words


class ConvBNReLU(nn.Module):
    """Conv3d without bias, BatchNorm3d (eps 1e-5), ReLU: float [B, C, T, H, W] -> [B, out, ...]."""

    def __init__(self, cin: int, cout: int, kernel, stride=1, padding=0):
        super().__init__()
        self.conv = nn.Conv3d(cin, cout, kernel, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm3d(cout)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


class SeparableConv(nn.Module):
    """A 3x3x3 convolution (padding 1) as S3D factors it: ``spatial`` 1x3x3, then ``temporal``
    3x1x1, each with its BatchNorm and ReLU."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.spatial = ConvBNReLU(cin, cout, (1, 3, 3), padding=(0, 1, 1))
        self.temporal = ConvBNReLU(cout, cout, (3, 1, 1), padding=(1, 0, 0))

    def forward(self, x):
        return self.temporal(self.spatial(x))


class SelfGate(nn.Module):
    """S3D-G feature gating: x * sigmoid(fc(mean of x over T, H, W)), per channel."""

    def __init__(self, channels: int):
        super().__init__()
        self.fc = nn.Linear(channels, channels)

    def forward(self, x):
        return x * torch.sigmoid(self.fc(x.mean(dim=(2, 3, 4))))[:, :, None, None, None]


class Inception(nn.Module):
    """One gated inception block: four branches (1x1; 1x1 then separable 3x3x3, twice; 3x3x3
    max pool then 1x1), each gated, concatenated along channels."""

    def __init__(self, cin: int, w):
        super().__init__()
        self.b0 = ConvBNReLU(cin, w[0], 1)
        self.b1_reduce, self.b1 = ConvBNReLU(cin, w[1], 1), SeparableConv(w[1], w[2])
        self.b2_reduce, self.b2 = ConvBNReLU(cin, w[3], 1), SeparableConv(w[3], w[4])
        self.b3 = ConvBNReLU(cin, w[5], 1)
        self.gates = nn.ModuleList(SelfGate(c) for c in (w[0], w[2], w[4], w[5]))

    def forward(self, x):
        pooled = F.max_pool3d(x, 3, stride=1, padding=1)
        branches = (self.b0(x), self.b1(self.b1_reduce(x)), self.b2(self.b2_reduce(x)),
                    self.b3(pooled))
        return torch.cat([g(b) for g, b in zip(self.gates, branches)], dim=1)


def same_max_pool(x, kernel, stride):
    """The authors' TF "SAME" max pool (s3dg.py, MaxPool3dTFPadding): zero-pad each dim by
    max(kernel - stride, 0), the smaller half first, then max pool with ceil mode."""
    pads = []
    for k, s in zip(reversed(kernel), reversed(stride)):  # F.pad lists the last dim first
        total = max(k - s, 0)
        pads += [total // 2, total - total // 2]
    return F.max_pool3d(F.pad(x, pads), kernel, stride, ceil_mode=True)


def space_to_depth(x):
    """[B, C, T, H, W] -> [B, 8C, T/2, H/2, W/2]: each 2x2x2 block into channels, ordered
    (t offset, h offset, w offset, channel), as the stem's published weights expect."""
    b, c, t, h, w = x.shape
    x = x.reshape(b, c, t // 2, 2, h // 2, 2, w // 2, 2).permute(0, 3, 5, 7, 1, 2, 4, 6)
    return x.reshape(b, 8 * c, t // 2, h // 2, w // 2)


class S3DVideo(nn.Module):
    """S3D-G video tower: float [B, 3, T, H, W] (T, H, W even) -> float [B, embed_dim].

    Pixel values are taken as given (see ``rewards.roboclip`` for what RoboCLIP feeds)."""

    def __init__(self, config: S3DConfig):
        super().__init__()
        self.stem = ConvBNReLU(24, config.stem, (2, 4, 4), padding=(1, 2, 2))
        self.conv2b = ConvBNReLU(config.stem, config.stem, 1)
        self.conv2c = SeparableConv(config.stem, config.conv2c)
        self.gate2c = SelfGate(config.conv2c)
        blocks, cin = {}, config.conv2c
        for name, w in zip(BLOCKS, config.widths, strict=True):
            blocks[name] = Inception(cin, w)
            cin = config.block_out(w)
        self.blocks = nn.ModuleDict(blocks)
        self.proj = nn.Linear(cin, config.embed_dim)

    def features(self, x):
        """The pooled mixed 5c features, float [B, C]."""
        t, h, w = x.shape[2:]
        if t % 2 or h % 2 or w % 2 or t < 2:
            raise BadInput(f"S3D takes an even number of frames (>= 2) of even height and "
                           f"width; got {t} frames of {h}x{w}")
        x = self.stem(space_to_depth(x))[:, :, 1:, 1:, 1:]  # the authors' SAME-padding fix
        x = same_max_pool(x, (1, 3, 3), (1, 2, 2))
        x = self.gate2c(self.conv2c(self.conv2b(x)))
        x = same_max_pool(x, (1, 3, 3), (1, 2, 2))
        for name, block in self.blocks.items():
            if name == "4b":
                x = same_max_pool(x, (3, 3, 3), (2, 2, 2))
            elif name == "5b":
                x = same_max_pool(x, (2, 2, 2), (2, 2, 2))
            x = block(x)
        return x.mean(dim=(2, 3, 4))

    def forward(self, x):
        return self.proj(self.features(x))


class SentenceEncoder(nn.Module):
    """The MIL-NCE text tower: tokens int64 [B, max_words] -> float [B, embed_dim].

    ``words`` embeds tokens, ``hidden`` is the 2048-wide ReLU layer, max-pooled over the
    positions (padding included, as the authors do), ``out`` the map to the embedding."""

    def __init__(self, config: S3DConfig):
        super().__init__()
        self.words = nn.Embedding(config.vocab_rows, config.word_dim)
        self.hidden = nn.Linear(config.word_dim, config.text_hidden)
        self.out = nn.Linear(config.text_hidden, config.embed_dim)

    def forward(self, tokens):
        return self.out(F.relu(self.hidden(self.words(tokens))).amax(dim=1))


@dataclass(frozen=True)
class Tokens:
    """A sentence as the text tower reads it: ``ids`` int64 [max_words]; ``unknown``: its
    words not in the dictionary (dropped); ``cut``: known words past ``max_words`` (dropped)."""

    ids: torch.Tensor
    known: tuple
    unknown: tuple
    cut: tuple


class S3DMilNCE(nn.Module):
    """S3D-G and its text tower in one joint space, with the word dictionary.

    Args:
        config: the widths (``S3DConfig``; defaults: the published model).
        words: the dictionary, word i has token i + 1. A word whose token falls outside the
            table (``vocab_rows``) counts as unknown.
    """

    def __init__(self, config: S3DConfig, words):
        super().__init__()
        self.config = config
        self.video = S3DVideo(config)
        self.text = SentenceEncoder(config)
        self.words = tuple(str(w) for w in words)
        self.vocabulary = {w: i + 1 for i, w in enumerate(self.words) if i + 1 < config.vocab_rows}

    def tokenize(self, text: str) -> Tokens:
        """``text`` as the authors' ``Sentence_Embedding._words_to_ids`` reads it (module
        docstring): lower-case, split, look up, drop unknown words, cut and zero-pad."""
        split = WORD.findall(str(text).lower())
        known = [w for w in split if w in self.vocabulary]
        n = self.config.max_words
        ids = torch.zeros(n, dtype=torch.long)
        ids[: len(known[:n])] = torch.as_tensor([self.vocabulary[w] for w in known[:n]],
                                               dtype=torch.long)
        return Tokens(ids, tuple(known[:n]), tuple(w for w in split if w not in self.vocabulary),
                      tuple(known[n:]))

    @torch.inference_mode()
    def encode_text(self, texts) -> torch.Tensor:
        """Text embeddings, float32 [len(texts), embed_dim] (not normalised)."""
        ids = torch.stack([self.tokenize(t).ids for t in texts])
        return self.text(ids.to(self.text.words.weight.device))

    @torch.inference_mode()
    def encode_video(self, video: torch.Tensor) -> torch.Tensor:
        """Video embeddings: float [B, 3, T, H, W] -> float32 [B, embed_dim] (not normalised).

        Raises:
            BadInput: T, H or W odd, or T < 2."""
        return self.video(video.to(self.video.proj.weight.device, torch.float32))


# --- the authors' key layout (s3dg.py: S3D, STConv3D, InceptionBlock, Sentence_Embedding) ---

_TOP = {"stem": "conv1", "conv2b": "conv_2b", "conv2c": "conv_2c", "gate2c": "gating",
        "proj": "fc"}
_BRANCH = {"b0": "conv_b0", "b1_reduce": "conv_b1_a", "b1": "conv_b1_b",
           "b2_reduce": "conv_b2_a", "b2": "conv_b2_b", "b3": "conv_b3_b"}
# inside a conv unit: ours -> STConv3D's (conv1/bn1, plus conv2/bn2 when separable)
_UNIT = {"conv": "conv1", "bn": "bn1", "spatial.conv": "conv1", "spatial.bn": "bn1",
         "temporal.conv": "conv2", "temporal.bn": "bn2"}
_TEXT = {"words": "word_embd", "hidden": "fc1", "out": "fc2"}


def _unit(rest: str) -> str:
    for ours, theirs in _UNIT.items():
        if rest.startswith(ours + "."):
            return theirs + rest[len(ours):]
    return rest  # a gate's "fc.weight"


def published_key(key: str) -> str:
    """The authors' name of one of our state-dict keys (``S3DMilNCE.state_dict()``).

    ``video.stem.conv.weight`` -> ``conv1.conv1.weight``; ``video.blocks.4c.b1.temporal.bn.
    running_mean`` -> ``mixed_4c.conv_b1_b.bn2.running_mean``; ``video.blocks.5c.gates.2.fc.
    weight`` -> ``mixed_5c.gating_b2.fc.weight``; ``text.words.weight`` ->
    ``text_module.word_embd.weight``."""
    tower, name, rest = key.split(".", 2)
    if tower == "text":
        return f"text_module.{_TEXT[name]}.{rest}"
    if name != "blocks":
        return f"{_TOP[name]}.{_unit(rest)}"
    block, branch, rest = rest.split(".", 2)
    if branch == "gates":
        i, rest = rest.split(".", 1)
        return f"mixed_{block}.gating_b{i}.{rest}"
    return f"mixed_{block}.{_BRANCH[branch]}.{_unit(rest)}"


def published_key_map(model: S3DMilNCE) -> dict[str, str]:
    """Our state-dict keys -> the authors' (``published_key``), for every tensor of ``model``."""
    return {k: published_key(k) for k in model.state_dict()}


def to_published(model: S3DMilNCE) -> dict[str, torch.Tensor]:
    """``model``'s state dict in the authors' key layout (what ``s3d_howto100m.pth`` holds)."""
    return {published_key(k): v for k, v in model.state_dict().items()}


def config_from_published(state: dict) -> S3DConfig:
    """The widths of a state dict in the authors' layout, read from its tensors' shapes.

    Raises:
        BadInput: a key it needs is missing, or the stem is not the space-to-depth one."""
    def shape(key):
        if key not in state:
            raise BadInput(f"not an S3D HowTo100M state dict: no key {key!r}")
        return tuple(state[key].shape)

    stem = shape("conv1.conv1.weight")
    if stem[1:] != (24, 2, 4, 4):
        raise BadInput(f"conv1.conv1.weight is {list(stem)}: expected the space-to-depth stem "
                       f"[C, 24, 2, 4, 4] of the published S3D")
    widths = tuple(
        tuple(shape(f"mixed_{b}.{c}.conv1.weight")[0] for c in _BRANCH.values()) for b in BLOCKS)
    rows, word_dim = shape("text_module.word_embd.weight")
    return S3DConfig(stem=stem[0], conv2c=shape("conv_2c.conv1.weight")[0], widths=widths,
                     embed_dim=shape("fc.weight")[0], vocab_rows=rows, word_dim=word_dim,
                     text_hidden=shape("text_module.fc1.weight")[0])


def from_published(state: dict, words) -> S3DMilNCE:
    """A model (eval mode, no grad, on the CPU) from a state dict in the authors' layout.

    BatchNorm's ``num_batches_tracked`` may be absent (it plays no part in eval).

    Raises:
        BadInput: a missing, unexpected or mis-shaped tensor (one line)."""
    model = S3DMilNCE(config_from_published(state), words)
    ours = model.state_dict()
    mapping = {published_key(k): k for k in ours}
    missing = [t for t, k in mapping.items() if t not in state
               and not k.endswith("num_batches_tracked")]
    unexpected = [t for t in state if t not in mapping]
    if missing or unexpected:
        raise BadInput(f"not the S3D HowTo100M layout: missing {missing[:3]} ({len(missing)}), "
                       f"unexpected {unexpected[:3]} ({len(unexpected)})")
    converted = {}
    for theirs, key in mapping.items():
        if theirs not in state:
            continue
        value = torch.as_tensor(state[theirs])
        if tuple(value.shape) != tuple(ours[key].shape):
            raise BadInput(f"{theirs} is {list(value.shape)}, expected {list(ours[key].shape)}")
        converted[key] = value
    model.load_state_dict(converted, strict=False)
    return model.eval().requires_grad_(False)


def read_words(path) -> tuple:
    """The word list of ``s3d_dict.npy``: a 1-d array of strings (unicode or bytes).

    Raises:
        BadInput: unreadable, or not a 1-d string array (one line)."""
    try:
        words = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise BadInput(f"{path}: cannot read the S3D dictionary: {' '.join(str(e).split())[:200]}"
                       ) from None
    if words.ndim != 1 or words.dtype.kind not in "US" or not len(words):
        raise BadInput(f"{path}: expected a 1-d array of words, got {words.dtype} {words.shape}")
    return tuple(text(w) for w in words.tolist())


def save_s3d(model: S3DMilNCE, directory) -> Path:
    """Write ``model`` as the authors publish it: ``directory/s3d_howto100m.pth`` (their key
    layout, ``torch.save``) and ``directory/s3d_dict.npy`` (unicode array). Returns the directory."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    torch.save(to_published(model), directory / WEIGHTS_FILE)
    np.save(directory / DICT_FILE, np.asarray(model.words, dtype=str), allow_pickle=False)
    return directory


def check_files(source: str) -> Path:
    """The directory ``--s3d-model`` names, when it holds the authors' two files (nothing is
    read: a quick check before a long run that loads it later).

    Raises:
        BadInput: not a directory, or one of the files missing (one line)."""
    directory = Path(source)
    if not directory.is_dir():
        raise BadInput(f"--s3d-model {source}: not a directory (expected one holding "
                       f"{WEIGHTS_FILE} and {DICT_FILE}, or `tiny`)")
    for name in (WEIGHTS_FILE, DICT_FILE):
        if not (directory / name).is_file():
            raise BadInput(f"--s3d-model {source}: no {name} in it (the files of "
                           f"antoine77340/S3D_HowTo100M's README)")
    return directory


def load_s3d(source: str, device: str = "cpu") -> S3DMilNCE:
    """The model of ``--s3d-model``: ``tiny``, or a directory holding the authors'
    ``s3d_howto100m.pth`` and ``s3d_dict.npy``. Eval mode, no grad, on ``device``.

    Raises:
        BadInput: a missing directory or file, an unreadable file, or tensors that are not
            the authors' S3D layout (one line naming the path)."""
    directory = tiny_preset() if source == TINY else check_files(source)
    try:
        state = torch.load(directory / WEIGHTS_FILE, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises several kinds for a bad file
        raise BadInput(f"{directory / WEIGHTS_FILE}: cannot load: "
                       f"{' '.join(str(e).split())[:200]}") from None
    if not isinstance(state, dict):
        raise BadInput(f"{directory / WEIGHTS_FILE}: expected a state dict, got {type(state).__name__}")
    words = read_words(directory / DICT_FILE)
    try:
        model = from_published(state, words)
    except BadInput as e:
        raise BadInput(f"{directory / WEIGHTS_FILE}: {e}") from None
    if len(words) > model.config.vocab_rows:
        raise BadInput(f"{directory / DICT_FILE}: {len(words)} words for a table of "
                       f"{model.config.vocab_rows} rows: not this model's dictionary")
    return model.to(device)


def tiny_words() -> tuple:
    """The tiny preset's dictionary: the words of the Meta-World task descriptions, sorted."""
    from genreward_cli.envs.tasks import TASKS

    return tuple(sorted({w for d in TASKS.values() for w in WORD.findall(d.lower())}))


def build_tiny(seed: int = 0) -> S3DMilNCE:
    """The ``tiny`` architecture (``TINY_CONFIG``, ``tiny_words``) with random weights, and
    its BatchNorm statistics measured on random pixel videos (values 0..255, as RoboCLIP feeds
    them): with the initial statistics (mean 0, variance 1) every random convolution shrinks
    the activations, and after 20 layers the embedding no longer depends on the video."""
    words = tiny_words()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = S3DMilNCE(replace(TINY_CONFIG, vocab_rows=len(words) + 1), words)
        norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm3d)]
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # a cumulative average over the calibration batch
        model.train()
        with torch.no_grad():
            model.video(torch.rand(4, 3, 8, 64, 64) * 255)
        for m in norms:
            m.momentum = 0.1  # BatchNorm3d's default, as the authors' modules have it
    return model.eval().requires_grad_(False)


def tiny_preset() -> Path:
    """The cache directory holding the tiny preset in the authors' layout (written once)."""
    from genreward_cli import __version__
    from genreward_cli.model_files import cached_preset

    # r1: BatchNorm statistics calibrated (the embedding of r0 did not depend on the video)
    return cached_preset(f"tiny-s3d-{__version__}-r1", WEIGHTS_FILE,
                         lambda d: save_s3d(build_tiny(), d))


def parameter_counts(config: S3DConfig = S3DConfig()) -> dict[str, int]:
    """Parameters of the video and text towers at ``config`` (built on the meta device,
    no memory); BatchNorm running statistics are buffers and not counted."""
    with torch.device("meta"):
        model = S3DMilNCE(config, ())
    return {tower: sum(p.numel() for p in getattr(model, tower).parameters())
            for tower in ("video", "text")}
