"""Save and restore an environment in the middle of an episode.

A training run that stops mid-episode keeps the env's state in its checkpoint, so that
``--resume`` continues the episode where it stopped instead of starting a new one.
``get_state(env)`` returns a picklable dict; ``set_state(env, state)`` puts an env built with
the same configuration, and reset to the same episode (the same seed), back in that state:
its next steps are those the saved env would have taken, bit for bit.

What the state holds, for any gymnasium env (the pixel wrapper, the Meta-World env inside
it, DotEnv), found by walking the env's attributes rather than by listing a task's names:

- every plain attribute (numbers, strings, arrays, RNGs, and lists, tuples and dicts of
  them): step counters (the wrapper's ``_step``, Meta-World's ``curr_path_length``), the
  scene's random vector and targets (``_last_rand_vec``, ``_target_pos``), the previous
  observation Meta-World stacks into the next (``_prev_obs``), the envs' RNGs;
- of an env that simulates with MuJoCo (a ``model`` and a ``data``), the integration state,
  ``mj_getState(mjSTATE_INTEGRATION)``: time, qpos, qvel, act, controls, applied forces, mocap
  poses and the solver's warm start; ``mj_forward`` then recomputes positions and contacts
  (and the state is set again, since the solve rewrites the warm start);
- the same for every env held as an attribute (the pixel wrapper's ``_env``).

Not held: renderers, spaces and the MuJoCo model. What a reset changes in the model (target
sites, object placements) the reset to the same seed before ``set_state`` redoes.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

_SCALARS = (bool, int, float, complex, str, bytes, type(None), np.generic,
            np.random.Generator, np.random.RandomState)


def _plain(value: Any) -> bool:
    """Whether ``value`` is data to save (not a renderer, a space, a model or a config)."""
    if isinstance(value, _SCALARS):
        return True
    if isinstance(value, np.ndarray):
        return value.dtype != object
    if isinstance(value, (list, tuple)):
        return type(value) in (list, tuple) and all(_plain(v) for v in value)
    if isinstance(value, dict):
        return type(value) is dict and all(isinstance(k, (str, int)) and _plain(v)
                                           for k, v in value.items())
    return False


def _is_env(value: Any) -> bool:
    import gymnasium as gym

    return isinstance(value, gym.Env)


def _mujoco(env) -> tuple | None:
    """(model, data) of an env that simulates with MuJoCo, else None."""
    model, data = vars(env).get("model"), vars(env).get("data")
    if model is None or data is None:
        return None
    import mujoco

    if isinstance(model, mujoco.MjModel) and isinstance(data, mujoco.MjData):
        return model, data
    return None


def _type_name(env) -> str:
    return f"{type(env).__module__}.{type(env).__qualname__}"


def get_state(env) -> dict:
    """The state of ``env`` in its episode (see the module docstring), as a picklable dict."""
    attrs = vars(env)
    state: dict[str, Any] = {
        "type": _type_name(env),
        "attrs": {k: copy.deepcopy(v) for k, v in attrs.items() if _plain(v)},
        "envs": {k: get_state(v) for k, v in attrs.items() if _is_env(v)},
    }
    sim = _mujoco(env)
    if sim is not None:
        import mujoco

        model, data = sim
        spec = int(mujoco.mjtState.mjSTATE_INTEGRATION)
        physics = np.empty(mujoco.mj_stateSize(model, spec), np.float64)
        mujoco.mj_getState(model, data, physics, spec)
        state["mujoco"] = {"spec": spec, "state": physics}
    return state


def set_state(env, state: dict) -> None:
    """Put ``env`` back in ``state`` from ``get_state`` (the env reset to the same episode)."""
    if state["type"] != _type_name(env):
        raise ValueError(f"the saved env state is of a {state['type']}, not of a "
                         f"{_type_name(env)} (another task or env)")
    attrs = vars(env)
    for name, value in state["attrs"].items():
        current = attrs.get(name)
        if (isinstance(current, np.ndarray) and isinstance(value, np.ndarray)
                and current.shape == value.shape and current.dtype == value.dtype
                and current.flags.writeable):
            current[...] = value  # in place: whatever else holds the array sees the change
        else:
            setattr(env, name, copy.deepcopy(value))
    for name, inner in state["envs"].items():
        if not _is_env(attrs.get(name)):
            raise ValueError(f"the saved env state holds an env {name!r} that "
                             f"{type(env).__name__} does not have")
        set_state(attrs[name], inner)
    saved = state.get("mujoco")
    sim = _mujoco(env)
    if (saved is None) != (sim is None):
        raise ValueError(f"the saved env state and {type(env).__name__} disagree on whether "
                         f"it simulates with MuJoCo")
    if sim is not None:
        import mujoco

        model, data = sim
        spec, physics = saved["spec"], np.asarray(saved["state"], np.float64)
        if len(physics) != mujoco.mj_stateSize(model, spec):
            raise ValueError(f"the saved MuJoCo state has {len(physics)} numbers; this model's "
                             f"has {mujoco.mj_stateSize(model, spec)} (another task or model)")
        mujoco.mj_setState(model, data, physics, spec)
        mujoco.mj_forward(model, data)  # positions, contacts: what the observation reads
        # mj_forward's solve overwrote the warm start (with a qacc that differs in the last
        # bits from the saved env's): set the state again, so the next step starts from it
        mujoco.mj_setState(model, data, physics, spec)
