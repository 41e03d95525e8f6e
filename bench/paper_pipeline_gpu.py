"""The paper preset's pipeline, cut to minutes, on paper-architecture models with random
weights: per stage, its wall time, its peak GPU memory and its artifact's main shapes.

    python bench/paper_pipeline_gpu.py --out runs/paper-smoke            # on a GPU machine
    python bench/paper_pipeline_gpu.py --out /tmp/smoke --device cpu --tiny   # a CPU check

Steps: (1) `init-model --preset cogvideox-5b-i2v-random` (the real sizes unless --layers,
--text-layers, ... or --tiny; bfloat16) and `init-model --preset dinov3-vits16plus-random`
into --models, unless there already; (2) `genreward pipeline --preset paper` with those models
(`--finetune-model`, `--image-encoder`, OpenCLIP ViT-B-32 with `--clip-pretrained ''`) and the
cuts (`--episodes`, `--finetune-steps`, `--generate-steps`, `--fb-steps`, `--steps`,
`--prefill`, `--eval-episodes`, optionally `--frames`); (3) a table. Peak memory per stage is
measured two ways: torch.cuda.max_memory_allocated of the stage's own process (written as it
exits by bench/gpu_peak/sitecustomize.py, put on PYTHONPATH here), and the GPU's memory.used
sampled with nvidia-smi every 0.25 s during the stage (CUDA context and other processes
included). Shapes come from `genreward inspect FILE --json`. Everything is also written to
OUT/gpu_report.json. Weights are random: the videos and rewards are noise; the figures are
of cost, not quality.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PEAK_DIR = Path(__file__).resolve().parent / "gpu_peak"
TINY_SIZES = {"layers": 1, "heads": 1, "text_layers": 1, "text_width": 64, "vae_width": 8,
              "vae_layers": 1}
SIZE_FLAGS = ("layers", "heads", "text_layers", "text_width", "vae_width", "vae_layers")
GIB = 2**30


def genreward(*args: str, env: dict | None = None, capture: bool = False, echo: bool = True):
    """Run ``python -m genreward_cli ARGS`` (this interpreter); raises CalledProcessError."""
    cmd = [sys.executable, "-m", "genreward_cli", *map(str, args)]
    if echo:
        print("+ genreward " + " ".join(repr(a) if a == "" else str(a) for a in args), flush=True)
    return subprocess.run(cmd, check=True, env=env, text=True,
                          stdout=subprocess.PIPE if capture else None)


class GpuSampler(threading.Thread):
    """Samples ``nvidia-smi --query-gpu=memory.used`` (MiB, GPU 0) every ``period`` seconds:
    ``samples`` is a list of (unix time, MiB). Does nothing where nvidia-smi is missing."""

    def __init__(self, period: float = 0.25):
        super().__init__(daemon=True)
        self.period, self.samples, self.stop = period, [], threading.Event()
        self.available = shutil.which("nvidia-smi") is not None

    def run(self) -> None:
        while self.available and not self.stop.is_set():
            try:
                out = subprocess.run(["nvidia-smi", "--query-gpu=memory.used",
                                      "--format=csv,noheader,nounits", "-i", "0"],
                                     capture_output=True, text=True, timeout=10).stdout
                self.samples.append((time.time(), float(out.split()[0])))
            except (subprocess.SubprocessError, ValueError, IndexError, OSError):
                pass
            self.stop.wait(self.period)

    def peak(self, start: float, end: float) -> float | None:
        """The largest sample in [start, end], in GiB; None without samples."""
        vals = [mib for t, mib in self.samples if start <= t <= end]
        return max(vals) / 1024 if vals else None


def build_models(models: Path, sizes: dict, dtype: str, device: str, seed: int) -> list[dict]:
    """Write the random-weight CogVideoX-5B-I2V and DINOv3 directories under ``models``
    (skipped when present); returns a row per model with its build seconds and size (GB)."""
    rows = []
    flags = [x for k, v in sizes.items() if v is not None
             for x in (f"--{k.replace('_', '-')}", str(v))]
    for name, preset, extra in (
            ("cogvideox", "cogvideox-5b-i2v-random", [*flags, "--dtype", dtype,
                                                       "--device", device]),
            ("dinov3", "dinov3-vits16plus-random", [])):
        out = models / name
        start = time.time()
        if not out.exists():
            genreward("init-model", "--preset", preset, *extra, "--seed", seed, "--out", out)
        size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file()) / 1e9
        rows.append({"model": name, "preset": preset, "seconds": round(time.time() - start, 1),
                     "gb": round(size, 2), "path": str(out)})
    return rows


def main_shapes(info: dict) -> str:
    """A short account of an artifact's main datasets from `inspect --json`'s answer."""
    kind, summary = info.get("kind"), info.get("summary") or {}
    if kind == "episodes":
        return (f"{summary.get('episodes')} episodes x {summary.get('steps')} steps, image "
                f"{summary.get('image')}")
    skip = ("weights/", "metrics/", "cache/", "episodes/", "rewards/", "shares/")
    shapes = [f"{d['path']}{d['shape']}" for d in info.get("datasets", [])
              if not d["path"].startswith(skip) and d.get("shape")]
    if kind == "fb":
        weights = [d for d in info.get("datasets", []) if d["path"].startswith("weights/")]
        shapes.append(f"{len(weights)} weight tensors")
    if not shapes:  # e.g. a finetune log: its curves
        shapes = [f"{d['path']}{d['shape']}" for d in info.get("datasets", []) if d.get("shape")]
    return ", ".join(shapes[:4]) + (" ..." if len(shapes) > 4 else "")


def inspect(path: Path) -> str:
    """``main_shapes`` of an artifact, or of a model directory its size on disk."""
    if path.is_dir() or path.suffix == ".json":
        d = path if path.is_dir() else path.parent
        size = sum(f.stat().st_size for f in d.rglob("*") if f.is_file()) / 1e9
        return f"directory {d.name}/, {size:.2f} GB"
    try:
        out = genreward("inspect", path, "--json", capture=True, echo=False).stdout
        shapes = main_shapes(json.loads(out))
    except (subprocess.CalledProcessError, ValueError) as e:
        return f"(inspect failed: {e})"
    if path.parent.name == "video_model":  # finetune's log, inside the model directory
        size = sum(f.stat().st_size for f in path.parent.rglob("*") if f.is_file()) / 1e9
        shapes = f"{shapes}; video_model/ {size:.2f} GB"
    return shapes


def stage_peaks(log: Path, sampler: GpuSampler) -> dict[str, dict]:
    """Per stage name (the subcommand, e.g. train-agent), its process's torch peak and the
    nvidia-smi peak over its lifetime, both in GiB (None where unknown)."""
    out: dict[str, dict] = {}
    rows = [json.loads(x) for x in log.read_text().splitlines()] if log.exists() else []
    for row in rows:
        argv = row["argv"][1:]
        if not argv or argv[0] in ("pipeline", "inspect", "init-model"):
            continue
        key = " ".join(argv[:2]) if argv[0] == "collect" else argv[0]
        if argv[0] == "collect":
            key = "collect " + argv[argv.index("--policy") + 1] if "--policy" in argv else key
        if argv[0] == "evaluate" and "--compare" in argv:
            key = "evaluate --compare"
        out[key] = {"torch_gib": row["allocated"] / GIB if row["allocated"] else None,
                    "reserved_gib": row["reserved"] / GIB if row["reserved"] else None,
                    "smi_gib": sampler.peak(row["start"], row["end"]),
                    "process_s": row["end"] - row["start"]}
    return out


def fmt(x, spec=".1f") -> str:
    return "-" if x is None else format(x, spec)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=ROOT / "runs" / "paper-smoke")
    p.add_argument("--models", type=Path, default=None,
                   help="where the random-weight models are (built if absent); default OUT/../"
                        "paper-random-models")
    p.add_argument("--task", default="pick-place-v3")
    p.add_argument("--device", default="cuda")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float32"])
    p.add_argument("--tiny", action="store_true",
                   help="tiny model sizes (1 layer, 1 head, T5 width 64, VAE width 8): a CPU check")
    for k in SIZE_FLAGS:
        p.add_argument(f"--{k.replace('_', '-')}", type=int, default=None,
                       help="init-model size (default the real model's)")
    p.add_argument("--episodes", type=int, default=2)
    p.add_argument("--finetune-steps", type=int, default=2)
    p.add_argument("--frames", type=int, default=None, help="default: native (49)")
    p.add_argument("--generate-steps", type=int, default=4)
    p.add_argument("--fb-steps", type=int, default=200)
    p.add_argument("--steps", type=int, default=512)
    p.add_argument("--prefill", type=int, default=256)
    p.add_argument("--eval-episodes", type=int, default=1)
    p.add_argument("--image-encoder", default=None,
                   help="default: the random DINOv3 ViT-S/16+ built here")
    args = p.parse_args(argv)

    sizes = {k: getattr(args, k) for k in SIZE_FLAGS}
    if args.tiny:
        sizes = {k: sizes[k] if sizes[k] is not None else v for k, v in TINY_SIZES.items()}
    models = args.models or args.out.parent / "paper-random-models"
    models.mkdir(parents=True, exist_ok=True)
    sampler = GpuSampler()
    sampler.start()
    t0 = time.time()
    built = build_models(models, sizes, args.dtype, args.device, args.seed)

    log = args.out.parent / f"{args.out.name}.peaks.jsonl"
    log.unlink(missing_ok=True)
    env = {**os.environ, "GENREWARD_PEAK_LOG": str(log),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(PEAK_DIR), str(ROOT),
                                                       os.environ.get("PYTHONPATH")]))}
    cmd = ["pipeline", "--task", args.task, "--preset", "paper", "--out", args.out,
           "--device", args.device, "--seed", args.seed,
           "--finetune-model", models / "cogvideox",
           "--clip-model", "ViT-B-32", "--clip-pretrained", "",
           "--image-encoder", args.image_encoder or models / "dinov3",
           "--episodes", args.episodes, "--finetune-steps", args.finetune_steps,
           "--generate-steps", args.generate_steps, "--fb-steps", args.fb_steps,
           "--steps", args.steps, "--prefill", args.prefill,
           "--eval-episodes", args.eval_episodes,
           *(["--frames", args.frames] if args.frames else []), "--json"]
    start = time.time()
    result = genreward(*cmd, env=env, capture=True)
    pipeline_s = time.time() - start
    sampler.stop.set()
    summary = json.loads(result.stdout)
    peaks = stage_peaks(log, sampler)

    rows = []
    for stage in summary["stages"]:
        name = stage["stage"]
        if name == "compare":  # the closing `evaluate --compare`: its peak is "compare" below
            continue
        key = name.split()[0] if not name.startswith("collect") else name
        peak = peaks.get(key, {})
        marker = summary["files"][name][0]
        rows.append({**stage, **peak, "output": marker,
                     "shapes": inspect(args.out / marker)})
    report = {"task": args.task, "device": args.device, "sizes": sizes, "dtype": args.dtype,
              "models": built, "pipeline_s": round(pipeline_s, 1),
              "total_s": round(time.time() - t0, 1), "stages": rows,
              "compare": peaks.get("evaluate --compare"), "eval": summary["eval"],
              "nvidia_smi": sampler.available}
    (args.out / "gpu_report.json").write_text(json.dumps(report, indent=2) + "\n")
    print_table(report)
    return 0


def print_table(report: dict) -> None:
    """The report as plain-text tables on stdout."""
    print(f"\npaper preset, random weights, {report['task']} on {report['device']} "
          f"(sizes {report['sizes']}, {report['dtype']})")
    for m in report["models"]:
        print(f"  model {m['model']:<10} {m['preset']:<26} built in {m['seconds']:>7.1f} s, "
              f"{m['gb']:.2f} GB ({m['path']})")
    head = f"{'stage':<15} {'action':<8} {'wall s':>7} {'torch GiB':>9} {'reserved':>8} " \
           f"{'smi GiB':>8}  main shapes"
    print(head)
    print("-" * len(head))
    for r in report["stages"]:
        print(f"{r['stage']:<15} {r['action']:<8} {r['seconds']:>7.1f} "
              f"{fmt(r.get('torch_gib'), '.2f'):>9} {fmt(r.get('reserved_gib'), '.2f'):>8} "
              f"{fmt(r.get('smi_gib'), '.2f'):>8}  {r['output']}: {r['shapes']}")
    e = report["eval"]
    print(f"pipeline {report['pipeline_s']:.1f} s, all {report['total_s']:.1f} s; final "
          f"evaluation over {e['episodes']} episodes: return {e['mean']:.1f}")
    if not report["nvidia_smi"]:
        print("(no nvidia-smi: the smi column is empty)")


if __name__ == "__main__":
    sys.exit(main())
