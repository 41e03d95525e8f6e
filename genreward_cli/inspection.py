"""What `genreward inspect` shows: structure, attributes, provenance chain and a summary."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from genreward_cli.artifacts import Artifact, open_artifact, sha256_file
from genreward_cli.errors import BadInput, GenrewardError

MAX_GROUPS_SHOWN = 2


def bad_index(art: Artifact, what: str, index: int, count: int) -> BadInput:
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
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def _provenance(parents: list[dict], depth: int) -> list[dict]:
    """Each parent with its hash checked: ok / changed / missing, and its own parents."""
    out = []
    for p in parents:
        entry = dict(p)
        path = Path(p["path"])
        if not path.exists():
            entry["status"] = "missing"
        elif sha256_file(path) != p.get("sha256"):
            entry["status"] = "changed since use"
        else:
            entry["status"] = "ok"
            if depth > 1:
                try:
                    with open_artifact(path) as parent:
                        entry["parents"] = _provenance(parent.parents, depth - 1)
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
        ret = art.file["return"][()]
        return {"episodes": int(len(ret)), "return_mean": float(ret.mean()),
                "return_std": float(ret.std()),
                "success_rate": float(np.mean(art.file["success"][()]))}
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
    if len(h5["eval/step"]):
        out["last_eval_return_mean"] = float(h5["eval/return"][-1].mean())
        out["last_eval_success_rate"] = float(h5["eval/success"][-1].mean())
    return out


def report(art: Artifact, depth: int = 5) -> dict[str, Any]:
    attrs = {k: _attr(v) for k, v in art.attrs.items()}
    for key in ("config", "parents", "versions"):
        if key in attrs:
            attrs[key] = json.loads(attrs[key])
    return {
        "path": str(art.path),
        "kind": art.kind.name,
        "attrs": attrs,
        "provenance": _provenance(art.parents, depth),
        "summary": _summary(art),
        "datasets": _datasets(art.file, art.kind.group),
        "groups": len(art.groups()),
        "warnings": art.warnings,
    }


def print_report(rep: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.tree import Tree

    console = Console()
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
            child = node.add(f"{p['path']} ({p['kind']}) [{colour}]{p['status']}[/]")
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
    err = Console(stderr=True)
    for w in rep["warnings"]:
        err.print(f"[yellow]Warning:[/] {w}")
