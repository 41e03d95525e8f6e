"""FB models in `fb` artifacts: one dataset per state_dict entry, loadable without torch.load."""

from __future__ import annotations

import json

import numpy as np
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
        group = art.file[f"weights/{module}"]
        state = {}
        group.visititems(lambda name, ds: state.__setitem__(name, torch.from_numpy(np.asarray(ds)))
                         if hasattr(ds, "shape") else None)
        net.load_state_dict({k.replace("/", "."): v for k, v in state.items()})
    return model.to(device).eval().requires_grad_(False)
