"""Attributes and step counters edited by hand: each kind's checked attributes (type, range,
presence), an episode's task against its file's, step counts that decrease, a run log whose
env config names another task; and what `score-reward` refuses in its episodes (a missing
policy, a file given twice, an episode without a step, returns past float32's range, an
empty prompt for a text reward). Each is one line, exit code 2, no output left."""

from __future__ import annotations

import json
import shutil

import h5py
import numpy as np
import pytest

from helpers import fake_run, refused, run

from genreward_cli.store.schema import KINDS, Attr


def edited(src, tmp_path, edit):
    """A copy of ``src`` after ``edit(h5py.File opened r+)``."""
    copy = tmp_path / f"edited_{src.name}"
    shutil.copy(src, copy)
    with h5py.File(copy, "r+") as f:
        edit(f)
    return copy


def _set(where, name, value):
    def edit(f):
        (f[where] if where else f).attrs[name] = value
    return edit


@pytest.mark.parametrize("name,edit,message", [
    ("expert.h5", _set("episodes/000000", "seed", "x"),
     "attribute 'seed' on 'episodes/000000' is 'x': expected an integer"),
    ("expert.h5", _set("episodes/000001", "policy", 3),
     "attribute 'policy' on 'episodes/000001' is '3': expected a string"),
    ("expert.h5", _set("episodes/000001", "task", "pick-place-v3"),
     "'episodes/000001' records task 'pick-place-v3', the file's root task is 'reach-v3'"),
    ("gf.h5", _set("", "index", 999),
     "attribute 'index' on the root is '999': expected an integer >= 0 below the length of "
     "'scores' (41)"),
    ("gf.h5", _set("", "index", -1), "expected an integer >= 0"),
    ("gf.h5", _set("", "index", 2.5), "expected an integer"),
    ("gf.h5", lambda f: f.attrs.__delitem__("index"), "missing attribute 'index' on the root"),
])
def test_checked_attributes_are_refused_on_open(tiny_chain, tmp_path, name, edit, message):
    bad = edited(tiny_chain / name, tmp_path, edit)
    refused(run("inspect", bad), str(bad), message)


def test_a_score_file_with_an_auc_that_is_no_number(tiny_chain, tmp_path):
    out = tmp_path / "s.h5"
    r = run("score-reward", tiny_chain / "expert.h5", tiny_chain / "random.h5", "--reward", "env",
            "--out", out)
    assert r.exit_code == 0, r.stderr
    assert run("inspect", out).exit_code == 0
    for value, message in (("high", "is 'high': expected a number in [0, 1] (or NaN)"),
                           (1.5, "expected a number in [0, 1]")):
        refused(run("inspect", edited(out, tmp_path, _set("", "auc", value))), message)
    nan = edited(out, tmp_path, _set("", "auc", np.nan))  # no expert or no random episode
    assert run("inspect", nan).exit_code == 0


def test_every_checked_attribute_is_written_as_checked():
    """The checked attributes of each kind are documented ones, of a known type."""
    for kind in KINDS.values():
        documented = " ".join(kind.attrs)
        for a in kind.checked:
            assert isinstance(a, Attr) and a.type in ("int", "number", "str"), (kind.name, a)
            assert a.name in documented, (kind.name, a.name)


# ----------------------------------------------------------------- run logs (evaluate)


def _run_edited(tmp_path, edit, **kwargs):
    path = fake_run(tmp_path / "run", 0, 40, 3, evals=1.0, **kwargs)
    with h5py.File(path / "log.h5", "r+") as f:
        edit(f)
    return path


def _replace(name, data):
    def edit(f):
        del f[name]
        f.create_dataset(name, data=data)
    return edit


@pytest.mark.parametrize("edit,message", [
    (_set("", "steps", "lots"), "attribute 'steps' on the root is 'lots': expected an integer >= 0"),
    (_set("", "steps", -5), "expected an integer >= 0"),
    (_set("", "env_config", json.dumps({"task": "pick-place-v3", "max_steps": 40})),
     "attribute 'env_config' names task 'pick-place-v3', the file's root task is 'reach-v3'"),
    (_set("", "env_config", "[]"), "attribute 'env_config' is not a JSON object"),
    (_replace("eval/step", np.array([120, 80, 40], np.int64)),
     "dataset 'eval/step' decreases at index 1 (120 then 80)"),
    (_replace("episodes/length", np.array([40, -1, 40], np.int64)),
     "dataset 'episodes/length' has values in [-1, 40], expected within [1, inf]"),
    (lambda f: f.create_dataset("shares/env", data=np.array([0.5, np.inf, 1.0], np.float32)),
     "dataset 'shares/env' holds inf or negative values"),
])
def test_a_run_log_edited_by_hand_is_refused_by_compare(tmp_path, edit, message):
    good = fake_run(tmp_path / "good", 1, 40, 3, evals=1.0)
    bad = _run_edited(tmp_path, edit)
    refused(run("evaluate", "--compare", good, bad), str(bad / "log.h5"), message)


def test_evaluate_refuses_a_log_whose_env_config_names_another_task(tmp_path):
    bad = _run_edited(tmp_path, _set("", "env_config",
                                     json.dumps({"task": "pick-place-v3", "max_steps": 40})))
    out = tmp_path / "ev.h5"
    refused(run("evaluate", bad, "--episodes", 1, "--out", out),
            "names task 'pick-place-v3', the file's root task is 'reach-v3'", out=out)


# ----------------------------------------------------------------- score-reward's episodes


def test_score_reward_refuses_what_would_miscount(tiny_chain, tmp_path):
    expert, random_ = tiny_chain / "expert.h5", tiny_chain / "random.h5"
    out = tmp_path / "s.h5"
    refused(run("score-reward", expert, random_, expert, "--reward", "env", "--out", out),
            f"{expert}: given twice; give each episodes file once", out=out)
    no_policy = edited(expert, tmp_path, lambda f: f["episodes/000000"].attrs.__delitem__("policy"))
    refused(run("score-reward", no_policy, random_, "--reward", "env", "--out", out),
            "missing attribute 'policy' on 'episodes/000000'", out=out)


def test_score_reward_refuses_an_episode_without_a_step(tiny_chain, tmp_path):
    def empty(f):
        g = f["episodes/000001"]
        for name in ("image", "state"):
            data = g[name][:1]
            del g[name]
            g.create_dataset(name, data=data)
        for name in ("action", "reward", "env_reward", "success"):
            data = g[name][:0]
            del g[name]
            g.create_dataset(name, data=data)

    bad = edited(tiny_chain / "expert.h5", tmp_path, empty)
    out = tmp_path / "s.h5"
    refused(run("score-reward", bad, tiny_chain / "random.h5", "--reward", "env", "--out", out),
            f"{bad}: episodes/000001: an episode without a step", out=out)


def test_returns_past_float32_are_one_line_naming_their_cause(tiny_chain, tmp_path):
    out = tmp_path / "s.h5"

    def huge(f):
        f["episodes/000000/env_reward"][...] = 3e38

    bad = edited(tiny_chain / "expert.h5", tmp_path, huge)
    refused(run("score-reward", bad, "--reward", "env", "--out", out),
            f"{bad}: episodes/000000: its env_reward sums to", "past float32's range", out=out)
    r = run("score-reward", tiny_chain / "expert.h5", "--goal", tiny_chain / "goal.h5",
            "--fb", tiny_chain / "fb.h5", "--reward-interval", 10, "--beta", 1e300,
            "--out", out)
    refused(r, "the genreward reward's return is", "past float32's range", "1e+300 (--beta)",
            out=out)


def test_a_text_reward_refuses_an_empty_prompt(tiny_chain, tmp_path):
    bad = edited(tiny_chain / "expert.h5", tmp_path, _set("", "prompt", ""))
    out = tmp_path / "s.h5"
    refused(run("score-reward", bad, "--reward", "vlm-rm", "--clip-model", "tiny",
                "--reward-interval", 10, "--out", out),
            f"{bad}: the root attribute 'prompt' is empty; the vlm-rm reward scores frames "
            "against the task text", out=out)
