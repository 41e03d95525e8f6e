"""FB models in `fb` artifacts: one dataset per state_dict entry, loadable without torch.load."""

from __future__ import annotations

from genreward_cli import store
from genreward_cli.errors import BadInput
from genreward_cli.fb.model import FBConfig, FBModel

MODULES = ("forward_net", "backward_net", "actor")


def write_weights(h5, model: FBModel) -> None:
    """F, B and actor weights under ``weights/<module>/``."""
    for module in MODULES:
        net = getattr(model, module)
        if net is None:
            continue
        store.write_weights(h5, f"weights/{module}", net.state_dict())


def read_model(art, device: str = "cpu") -> FBModel:
    """The frozen FBModel stored in an open `fb` artifact.

    Raises BadInput when its ``goal_z`` [Z] or ``goal_embedding`` [D] disagree with the
    stored ``fb_config``'s z_dim and obs_dim (a file edited or assembled by hand), or its
    weights do not fit the config."""
    config = store.stored_config(art, "fb_config", FBConfig)
    for name, size, what in (("goal_z", config.z_dim, "z_dim"),
                             ("goal_embedding", config.obs_dim, "obs_dim")):
        shape = art.file[name].shape
        if shape != (size,):
            raise BadInput(f"{art.path}: {name} has shape {list(shape)}, fb_config's {what} "
                           f"is {size}")
    model = FBModel(config)
    for module in MODULES:
        net = getattr(model, module)
        if net is None:
            continue
        # state_dict keys ("heads.0.sz.0.weight") have no "/": one flat group per module
        store.load_weights(net, art.file[f"weights/{module}"])
    return model.to(device).eval().requires_grad_(False)
