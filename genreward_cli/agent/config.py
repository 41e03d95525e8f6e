"""Agent sizes: DreamerV3's size table, with `tiny` for CPU tests; `S` is the paper's Table A."""

from __future__ import annotations

from dataclasses import dataclass

from genreward_cli.config import option
from genreward_cli.errors import BadInput

# The fast paths of ``fast_layers.py``, each a faster computation of a plain layer of
# ``networks.py`` from the same parameters; ``AgentConfig.fast`` selects among them.
FAST_PATHS = ("hot", "tables", "pad", "deconv", "loop")


@dataclass(frozen=True)
class AgentConfig:
    """DreamerV3 hyperparameters (Table A where it gives them)."""

    deter: int = option(512, "Deterministic (GRU) state size (Table A: 512).", minimum=1)
    stoch: int = option(32, "Stochastic latent groups (Table A: 32).", minimum=1)
    classes: int = option(32, "Classes per latent group (Table A: 32).", minimum=2)
    units: int = option(512, "MLP width (Table A: 512).", minimum=1)
    layers: int = option(2, "MLP layers.", minimum=1)
    cnn_depth: int = option(32, "CNN channel multiplier.", minimum=1)
    image_size: int = option(64, "Image height and width.", minimum=16)
    unimix: float = option(0.01, "Uniform mix of categorical latents and actions.",
                           minimum=0, maximum=1)
    free_nats: float = option(1.0, "Free bits of the KL terms.", minimum=0)
    dyn_scale: float = option(0.5, "Dynamics loss scale (Table A).", minimum=0)
    rep_scale: float = option(0.1, "Representation loss scale (Table A).", minimum=0)
    pred_scale: float = option(1.0, "Reconstruction loss scale (Table A).", minimum=0)
    model_lr: float = option(1e-4, "World-model learning rate (Table A).", above=0)
    grad_clip: float = option(1000.0, "World-model gradient clipping norm.", above=0)
    precision: str = option(
        "fp32", "Compute precision of updates and acting: `fp32`, or `bf16` (mixed precision, "
        "DreamerV3's own compute dtype: matmuls and convolutions in bfloat16; weights, "
        "optimiser states, distributions and losses in float32).", choices=("fp32", "bf16"))
    # `off` by default until the compiled path's GPU equivalence test and timing have run on a
    # GPU; `auto` (on with CUDA) is meant to become the default then
    compile: str = option(
        "off", "The update and the policy step under torch.compile: `on` (the update's "
        "forward, backward, optimiser steps and slow critic's update compiled as one step, and "
        "the policy step as another, with fixed shapes and no host syncs; Inductor's fused "
        "kernels, on a GPU replayed as CUDA graphs), `graphs` (the same two steps traced as "
        "one graph each, without Inductor's code generation: the traced operators run as they "
        "are, on a GPU replayed as CUDA graphs; it compiles in about the time of a trace), "
        "`off` (eager, the reference), or `auto` (`on` on a GPU, `off` on the CPU). The "
        "compiled update draws from the device's default generator; the policy step draws as "
        "the eager one does.",
        choices=("auto", "on", "off", "graphs"))
    fast: str = option(
        "on", "Fast paths, the same model and parameters computed faster "
        "(genreward_cli/agent/fast_layers.py): `on` (all), `off` (the plain PyTorch layers of "
        "networks.py, the reference), or a comma-separated subset of " + ", ".join(FAST_PATHS)
        + ". A speed choice: checkpoints load and runs resume across values.")

    def __post_init__(self):  # made by build() or directly (a saved run's config)
        self.fast_paths()

    def fast_paths(self) -> frozenset[str]:
        """The names of the fast paths ``fast`` selects (a subset of ``FAST_PATHS``): all of
        them for `on`, none for `off`, else the comma-separated names.

        Raises:
            BadInput: one line listing the valid names, for an unknown name, an empty one, or
                `tables` without `hot` (it reuses the `hot` layers' tables, nothing else).
        """
        choose = f"choose on, off, or a comma-separated subset of {', '.join(FAST_PATHS)}"
        if not isinstance(self.fast, str):
            raise BadInput(f"--agent fast: expected str, got {type(self.fast).__name__} "
                           f"{self.fast!r}; {choose}")
        spec = self.fast.strip()
        if spec in ("on", "off"):
            return frozenset(FAST_PATHS if spec == "on" else ())
        names = [name.strip() for name in spec.split(",")]
        unknown = [name for name in names if name not in FAST_PATHS]
        if unknown:
            raise BadInput(f"--agent fast={self.fast}: unknown fast path(s) "
                           f"{', '.join(map(repr, unknown))}; {choose}")
        if "tables" in names and "hot" not in names:
            raise BadInput(f"--agent fast={self.fast}: `tables` reuses the `hot` layers' "
                           "tables; add hot")
        return frozenset(names)

    def compiled(self, device) -> bool:
        """Whether updates on ``device`` (a ``torch.device`` or its name) are compiled:
        ``compile`` with `auto` resolved to `on` on CUDA and `off` elsewhere."""
        kind = device if isinstance(device, str) else device.type
        return self.compile in ("on", "graphs") or (self.compile == "auto"
                                                    and kind.startswith("cuda"))

    def compile_kwargs(self, device) -> dict:
        """The ``torch.compile`` arguments of a compiled step on ``device`` (a
        ``torch.device``), besides ``fullgraph`` and ``dynamic``: for `graphs`, TorchDynamo's
        ``cudagraphs`` backend (AOTAutograd's graph of ATen operators, each run as in eager,
        the whole replayed as a CUDA graph on a GPU; on a CPU the graph runs uncaptured); for
        `on` and `auto`, Inductor, in mode "reduce-overhead" (CUDA graphs) on a GPU and
        "default" elsewhere."""
        if self.compile == "graphs":
            return {"backend": "cudagraphs"}
        return {"mode": "reduce-overhead" if device.type == "cuda" else "default"}

    @property
    def feat(self) -> int:
        return self.deter + self.stoch * self.classes


PRESETS = {
    "tiny": dict(deter=32, stoch=4, classes=4, units=32, layers=1, cnn_depth=4),
    "S": {},  # Table A
    "M": dict(deter=1024, units=640, layers=3, cnn_depth=48),
    "L": dict(deter=2048, units=768, layers=4, cnn_depth=64),
    "XL": dict(deter=4096, units=1024, layers=5, cnn_depth=96),
}


def preset(name: str, **overrides) -> AgentConfig:
    """A named size with strict overrides (unknown names and wrong types are errors)."""
    if name not in PRESETS:
        raise BadInput(f"--preset {name!r}: choose from {', '.join(PRESETS)}")
    from genreward_cli.config import build

    return build(AgentConfig, {**PRESETS[name], **overrides}, name=lambda key: f"--agent {key}")


def parse_overrides(items: tuple[str, ...]) -> dict:
    """``("deter=128", "model_lr=1e-3", "precision=bf16")`` ->
    ``{"deter": 128, "model_lr": 0.001, "precision": "bf16"}``: JSON values, else the text
    (``build`` then checks each against its field's type)."""
    import json

    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise BadInput(f"--agent {item!r}: expected KEY=VALUE, e.g. --agent deter=128")
        try:
            out[key.strip()] = json.loads(value)
        except ValueError:
            out[key.strip()] = value.strip()
    return out
