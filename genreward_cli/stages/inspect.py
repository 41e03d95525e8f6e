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
        fps: int = 8, frame: tuple[int | None, int, str | os.PathLike] | None = None,
        depth: int = 5,
        expect_kind: str | None = None, force: bool = False) -> Report:
    """Inspect the artifact ``path``: the report's summary is :func:`report` (parents followed
    ``depth`` generations), its line one sentence. With ``video``, episode ``episode``'s frames
    are written as a video (.mp4 or .gif, ``fps`` frames a second); with ``frame`` (EPISODE,
    STEP, OUT; EPISODE None for a goal video), that one frame as an image (.png, .jpg); the
    report then has ``exported``. A folder ``path`` shows the artifact a train-agent run or a
    finetune holds (its log; the report then has ``folder``), or else a model folder's parts
    (:func:`model_folder`).

    Raises BadInput (exit code 2) for a file that is no artifact (or not of ``expect_kind``),
    a kind without frames or an index out of range when exporting, or an existing export
    without ``force``.
    """
    from genreward_cli import media

    if expect_kind is not None and expect_kind not in store.KINDS:  # not the file's fault
        import difflib

        close = difflib.get_close_matches(expect_kind.lower(), store.KINDS, n=1)
        raise BadInput(f"--kind {expect_kind}: not an artifact kind"
                       + (f"; did you mean {close[0]}?" if close else "")
                       + f" (the kinds: {', '.join(sorted(store.KINDS))})")
    path, shown_from = Path(path), None
    if path.is_dir():  # a run or finetune folder shows its log; a model folder, its parts
        inner = next((path / n for n in FOLDER_LOGS if (path / n).is_file()), None)
        if inner is None:
            if video or frame or expect_kind:
                flag = "--video" if video else "--frame" if frame else "--kind"
                raise BadInput(f"{path}: a folder, not an artifact; {flag} needs an artifact file")
            rep = model_folder(path)
            return Report(f"{path}: {rep['kind']}", rep)
        path, shown_from = inner, str(path)
    if video:
        store.check_output(media.check_video_path(video), force, [path])
    if frame:
        store.check_output(media.check_image_path(frame[2]), force, [path])
    with store.open_artifact(path, expect_kind) as art:
        rep = report(art, depth=depth)
        if shown_from:
            rep["folder"] = shown_from
        if video:
            media.write_video(video, frames(art, episode), fps=fps)
            rep["exported"] = {"video": str(video)}
        if frame:
            episode_frames = frames(art, frame[0])
            if not 0 <= frame[1] < len(episode_frames):
                raise bad_index(art, "step", frame[1], len(episode_frames), "frame")
            media.write_image(frame[2], episode_frames[frame[1]])
            rep.setdefault("exported", {})["frame"] = str(frame[2])
    bad = sum(p["status"] != "ok" for p in rep["provenance"])
    line = (f"{rep['path']}: {rep['kind']}, {len(rep['provenance'])} parents"
            f"{f' ({bad} not ok)' if bad else ''}, {len(rep['datasets'])} datasets shown")
    return Report(line, rep)


# the artifact a command's output folder holds: train-agent's log, finetune's curve
FOLDER_LOGS = ("log.h5", "finetune_log.h5")


def _parameters(weights: Path) -> tuple[int, list[str]]:
    """Parameter count and dtypes of a .safetensors file, from its header alone. Raises
    ValueError for a file that is not one."""
    from safetensors import SafetensorError, safe_open

    count, dtypes = 0, set()
    try:
        with safe_open(weights, "np") as f:
            for key in f.keys():
                sl = f.get_slice(key)
                count += int(np.prod(sl.get_shape(), dtype=np.int64))
                dtypes.add(sl.get_dtype())
    except SafetensorError as e:
        raise ValueError(f"{weights.name}: {e}") from None
    return count, sorted(dtypes)


WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt")


def _component(folder: Path, cls: str) -> dict[str, Any]:
    """One model part: its class, parameter count and dtypes (from its .safetensors files,
    sharded or not), and the bytes of its files. Raises ValueError for a missing folder, or
    a model's (``config.json``) without weights: neither loads."""
    if not folder.exists():
        raise ValueError(f"{folder.name}/ is missing")
    files = [f for f in sorted(folder.rglob("*")) if f.is_file()]
    if ((folder / "config.json").is_file()
            and not any(f.suffix in WEIGHT_SUFFIXES for f in files)):
        raise ValueError(f"{folder.name}/ has a config.json but no weights")
    entry: dict[str, Any] = {"class": cls, "bytes": sum(f.stat().st_size for f in files)}
    weights = [f for f in files if f.suffix == ".safetensors"]
    if weights:
        counts = [_parameters(w) for w in weights]
        entry["parameters"] = sum(c for c, _ in counts)
        entry["dtypes"] = sorted({d for _, ds in counts for d in ds})
    return entry


def _json_object(path: Path) -> dict:
    """A JSON file that must hold an object. Raises ValueError (bad JSON, or not an object)."""
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path.name}: {e}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path.name} holds a JSON {type(data).__name__}, not an object")
    return data


def _config_class(data: dict) -> str:
    """The class a diffusers or transformers config names."""
    return str(data.get("_class_name") or ", ".join(map(str, data.get("architectures") or []))
               or data.get("model_type", "?"))


def _pipeline_parts(path: Path, index: dict) -> dict[str, tuple[Path, str]]:
    """A diffusers ``model_index.json``'s components: {name: (folder, "library.Class")};
    [null, null] entries (absent optional parts) are left out. Raises ValueError."""
    parts = {}
    for name, spec in index.items():
        if name.startswith("_"):
            continue
        if not (isinstance(spec, list) and len(spec) == 2
                and all(x is None or isinstance(x, str) for x in spec)):
            raise ValueError(f"model_index.json: {name} is {spec!r}, not [library, class]")
        if spec[0] is not None and spec[1] is not None:
            parts[name] = (path / name, ".".join(spec))
    return parts


def model_folder(path: Path) -> dict[str, Any]:
    """What a model folder holds, read from its configs and weight headers (no weights are
    loaded): a diffusers pipeline (``model_index.json``: `init-model`, a finetune's output
    without its log), one diffusers or transformers model (``config.json``: a pipeline's
    part, `init-model --preset dinov3-...`), a Diffusion Reward model (`train-video-model`),
    or S3D HowTo100M files. Returns a JSON-ready dict with ``path``, ``kind`` (a sentence),
    ``components`` ({name: {class, bytes, parameters, dtypes}}) and ``bytes``.

    Raises:
        BadInput: a folder holding none of these (inspect takes an artifact file, a run or
            finetune folder, or a model folder), a train-agent run with no log yet, or a
            model folder whose configs or weight headers cannot be read.
    """
    from genreward_cli.rewards.diffusion_reward import META_NAME
    from genreward_cli.rewards.s3d import DICT_FILE, WEIGHTS_FILE
    from genreward_cli.stages.train_agent import holds_run

    if holds_run(path):
        from genreward_cli.stages.evaluate import log_path

        log_path(path)  # raises, saying why there is no log (running; interrupted; ...)
    try:
        kind = parts = None
        if (path / "model_index.json").is_file():
            index = _json_object(path / "model_index.json")
            kind = f"diffusers pipeline {index.get('_class_name', '?')}"
            parts = _pipeline_parts(path, index)
        elif (path / META_NAME).is_file():
            kind = "Diffusion Reward video model (train-video-model)"
            _json_object(path / META_NAME)  # its statistics: without them it scores nothing
            parts = {d.name: (d, _config_class(_json_object(d / "config.json")))
                     for d in sorted(path.iterdir()) if (d / "config.json").is_file()}
            parts.update({d.name: (d, _config_class(_json_object(d / "scheduler_config.json")))
                          for d in sorted(path.iterdir())
                          if (d / "scheduler_config.json").is_file()})
        elif (path / "config.json").is_file():
            config = _json_object(path / "config.json")
            if "_diffusers_version" in config:
                kind = f"diffusers model {_config_class(config)}"
            elif "model_type" in config or "architectures" in config:
                kind = f"transformers model {_config_class(config)}"
            if kind:
                parts = {"model": (path, _config_class(config))}
        elif all((path / f).is_file() for f in (WEIGHTS_FILE, DICT_FILE)):
            kind = "S3D HowTo100M (RoboCLIP's video-text model)"
            parts = {"s3d": (path, "S3D")}
        if kind is None:
            shown = ", ".join(sorted(e.name for e in path.iterdir())[:3]) or "nothing"
            raise BadInput(f"{path}: a folder holding no artifact or model ({shown}); inspect "
                           "takes an artifact file, a train-agent or finetune folder, or a "
                           "model folder")
        components = {name: _component(folder, cls) for name, (folder, cls) in parts.items()}
    except (OSError, ValueError) as e:  # unreadable JSON or safetensors header
        raise BadInput(f"{path}: cannot read the model folder: {e}") from None
    total = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return {"path": str(path), "kind": kind, "components": components, "bytes": total}


def bad_index(art: Artifact, what: str, index: int, count: int, unit: str | None = None
              ) -> BadInput:
    """The BadInput for an index out of range: ``FILE: WHAT INDEX out of range (the file
    has COUNT UNITs)``, ``unit`` defaulting to ``what``."""
    from genreward_cli.progress import counted

    return BadInput(f"{art.path}: {what} {index} out of range (the file has "
                    f"{counted(count, unit or what)})")


def frames(art: Artifact, episode: int | None) -> np.ndarray:
    """The video frames of an artifact, uint8 [F,H,W,3]; ``episode`` picks one of several
    (episodes, clips) and is None or 0 for a kind holding one video (`goal_video`) or one
    goal frame (`goal_frame`, `goal`: F = 1).

    Raises:
        BadInput: a kind without frames; ``episode`` None for a kind of several, not 0 for a
            kind of one, or out of range.
    """
    template = art.kind.frames
    if template is None and "frame" in art.file and art.file["frame"].ndim == 3:
        template = "frame"  # a goal frame (goal_frame, goal): one image, exported as frame 0
    if template is None:
        raise BadInput(f"{art.path}: kind '{art.kind.name}' holds no frames to export")
    if "<k>" not in template and episode:
        raise BadInput(f"{art.path}: a {art.kind.name} holds one video, not episode {episode}; "
                       "give --frame STEP OUT")
    if "<k>" in template:
        names = art.groups()
        if episode is None:
            raise BadInput(f"{art.path}: holds {len(names)} {art.kind.group}; give --frame "
                           f"EPISODE:STEP OUT (e.g. 0:12)")
        if not 0 <= episode < len(names):
            raise bad_index(art, "episode", episode, len(names))
        template = template.replace("<k>", names[episode])
    data = art.file[template][()]
    return data[None] if data.ndim == 3 else data


def _attr(value: Any) -> Any:
    if isinstance(value, (bytes, str)):
        return store.text(value)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def find_parent(entry: dict, artifact: str | Path,
                written_as: str | None = None) -> tuple[Path | None, str]:
    """Where the parent ``entry`` ({path, kind, sha256}) of ``artifact`` is now, and its status.

    An absolute path is looked up as is, then, for an artifact that moved since it was written
    at ``written_as``, at the same place relative to it. A relative one (written before paths
    were recorded absolute) is tried against the current directory, then against
    ``artifact``'s directory. The first candidate whose sha256 matches wins (status ``ok``);
    else the first that exists (``changed since use``); else ``(None, "missing")``.
    """
    existing = [Path(c) for c in recorded_candidates(entry["path"], artifact, written_as)
                if Path(c).is_file()]
    for path in existing:
        if sha256_file(path) == entry.get("sha256"):
            return path, "ok"
    if existing:
        return existing[0], "changed since use"
    return None, "missing"


def _provenance(parents: list[dict], depth: int, artifact: str | Path,
                written_as: str | None = None) -> list[dict]:
    """Each parent of ``artifact`` (written at ``written_as``) with its hash checked: ok /
    changed / missing, and its own parents (to ``depth`` levels)."""
    out = []
    for p in parents:
        entry = dict(p)
        path, entry["status"] = find_parent(p, artifact, written_as)
        if path is not None and str(path) != p["path"]:
            entry["found_at"] = str(path)
        if entry["status"] == "ok" and depth > 1:
            try:
                with open_artifact(path) as parent:
                    entry["parents"] = _provenance(parent.parents, depth - 1, path,
                                                   parent.attrs.get("written_as"))
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


def _curve_end(h5) -> dict[str, Any]:
    """Where a training curve (``metrics/step``, ``metrics/loss``) ended: its last logged step
    (0 for an empty curve) and loss (None)."""
    steps, loss = h5["metrics/step"], h5["metrics/loss"]
    return {"last_step": int(steps[-1]) if len(steps) else 0,
            "last_loss": float(loss[-1]) if len(loss) else None}


# summary entries that are [min, max] over the episodes or clips (`--json` keeps the bare name)
RANGES = ("length", "frames")


def _frames_summary(h5, names: list[str], template: str) -> dict[str, Any]:
    """Clip count, frame counts [min, max] and the frame shape of ``template`` per group."""
    counts = [int(h5[template.replace("<k>", k)].shape[0]) for k in names]
    first = h5[template.replace("<k>", names[0])]
    return {"clips": len(names), "frames": [min(counts), max(counts)],
            "image": list(first.shape[1:])}


def _summary(art: Artifact) -> dict[str, Any]:
    h5, name = art.file, art.kind.name
    if name == "agent_log":
        return _agent_log_summary(h5)
    if name == "videos":
        names = art.groups()
        prompts = {store.text(h5[f"videos/{k}"].attrs.get("prompt", "")) for k in names}
        return {**_frames_summary(h5, names, "videos/<k>/frames"), "prompts": len(prompts)}
    if name == "goal_video":
        return {"frames": int(h5["frames"].shape[0]), "image": list(h5["frames"].shape[1:]),
                "mode": store.text(art.attrs.get("mode", "")),
                "prompt": store.text(art.attrs.get("prompt", ""))}
    if name == "goal_frame":
        index = int(art.attrs["index"])
        return {"index": index, "score": float(h5["scores"][index]),
                "frames_scored": int(h5["scores"].shape[0]), "image": list(h5["frame"].shape)}
    if name == "goal":
        return {"video_latent": list(h5["video_latent"].shape),
                "frame_embedding": list(h5["frame_embedding"].shape)}
    if name == "fb":
        return {**_curve_end(h5), "z_dim": int(h5["goal_z"].shape[0])}
    if name == "finetune_log":
        return _curve_end(h5)
    if name == "reward_score":
        return {"episodes": int(h5["episode_return"].shape[0]),
                "auc": float(art.attrs["auc"]), "spearman": float(art.attrs["spearman"])}
    if name == "eval":
        from genreward_cli.stages.acting import NO_EPISODE, returns_summary

        s = returns_summary(art.file["return"][()], art.file["success"][()])
        out = {"episodes": s["episodes"], "return_mean": s["mean"], "return_std": s["std"],
               "success_rate": s["success_rate"]}
        return out if s["episodes"] else {**out, "note": NO_EPISODE}
    if name != "episodes":
        return {}
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
    for key in ("config", "parents", "versions"):  # BadInput naming a garbled one
        if key in attrs:
            attrs[key] = getattr(art, key)
    for key, value in attrs.items():  # the other JSON attrs (fb_config, frame_size, ...)
        if key not in ("config", "parents", "versions") and isinstance(value, str) \
                and value.startswith(("{", "[")):
            try:
                attrs[key] = json.loads(value)
            except ValueError:  # a text that only starts like JSON
                pass
    return {
        "path": str(art.path),
        "kind": art.kind.name,
        "attrs": attrs,
        "provenance": _provenance(art.parents, depth, art.path, art.attrs.get("written_as")),
        "summary": _summary(art),
        "datasets": _datasets(art.file, art.kind.group),
        "groups": len(art.groups()),
        "warnings": art.warnings,
    }


def print_report(rep: dict[str, Any]) -> None:
    """Print a :func:`report` (or a :func:`model_folder`'s) as a tree on stdout, its warnings
    on stderr."""
    from genreward_cli.progress import console as make_console
    from rich.tree import Tree

    console = make_console()
    if "components" in rep:
        root = Tree(f"[bold]{rep['path']}[/] ([cyan]{rep['kind']}[/], "
                    f"{rep['bytes'] / 2**20:.1f} MiB)")
        for name, c in rep["components"].items():
            params = (f", {c['parameters'] / 1e6:.3g} M parameters ({', '.join(c['dtypes'])})"
                      if "parameters" in c else "")
            root.add(f"{name}: {c['class']}{params}, {c['bytes'] / 2**20:.1f} MiB")
        console.print(root)
        return
    attrs = rep["attrs"]
    root = Tree(f"[bold]{rep['path']}[/] ([cyan]{rep['kind']}[/], schema {attrs.get('schema_version')})")
    if "folder" in rep:
        root.add(f"the log of the folder {rep['folder']}")
    meta = root.add("provenance")
    meta.add(f"producer: {attrs.get('producer')}")
    meta.add(f"created: {attrs.get('created_at')}")
    if attrs.get("written_as") and attrs["written_as"] != str(Path(rep["path"]).resolve()):
        meta.add(f"written as: {attrs['written_as']} (moved since)")
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
                          "schema_version", "written_as")}
    if other:
        node = root.add("attrs")
        for k, v in other.items():
            node.add(f"{k} = {json.dumps(v) if isinstance(v, (dict, list)) else v}")
    data = root.add(f"datasets (first {MAX_GROUPS_SHOWN} of {rep['groups']} groups)"
                    if rep["groups"] > MAX_GROUPS_SHOWN else "datasets")
    for d in rep["datasets"]:
        comp = f", {d['compression']}" if d["compression"] else ""
        data.add(f"{d['path']}  {d['dtype']} {d['shape']}{comp}")
    if rep["summary"]:
        node = root.add("summary")
        for k, v in rep["summary"].items():
            if k in RANGES and isinstance(v, list):  # a bare [20, 150] read as a shape
                k = f"{k} (min, max)"
            node.add(f"{k}: {v:.3f}" if isinstance(v, float) else f"{k}: {v}")
    console.print(root)
    err = make_console(stderr=True)
    for w in rep["warnings"]:
        err.print(f"[yellow]Warning:[/] {w}")
