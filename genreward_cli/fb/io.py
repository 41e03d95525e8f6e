"""FB models in `fb` artifacts: one dataset per state_dict entry, loadable without torch.load."""

from __future__ import annotations

import json

import torch

from genreward_cli.fb.model import FBConfig, FBModel

MODULES = ("forward_net", "backward_net", "actor")


def write_weights(h5, model: FBModel) -> None:
    for module in MODULES:
        net = getattr(model, module)
        if net is None:
            continue
        for name, value in net.state_dict().items():
            h5.create_dataset(f"weights/{module}/{name}", data=value.detach().cpu().numpy())


def read_model(art, device: str = "cpu") -> FBModel:
    """The frozen FBModel stored in an open `fb` artifact."""
    config = FBConfig(**json.loads(art.attrs["fb_config"]))
    model = FBModel(config)
    for module in MODULES:
        net = getattr(model, module)
        if net is None:
            continue
        # state_dict keys ("heads.0.sz.0.weight") have no "/": one flat group per module
        group = art.file[f"weights/{module}"]
        net.load_state_dict({name: torch.from_numpy(ds[()]) for name, ds in group.items()})
    return model.to(device).eval().requires_grad_(False)
