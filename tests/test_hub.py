"""Loading from the Hugging Face hub on a machine that cannot reach it."""

import os
import subprocess
import sys

import pytest


@pytest.mark.parametrize("argv", [
    ["generate", "--task", "reach-v3", "--out", "goal_video.h5"],  # diffusers' configs
    ["select-frame", "{chain}/expert.h5", "--out", "goal_frame.h5"],  # OpenCLIP's weights
], ids=["diffusers", "open_clip"])
def test_an_unreachable_hub_is_one_line_at_once(tmp_path, tiny_chain, argv):
    """A default model (a hub id) on a node whose hub host does not resolve: huggingface_hub
    asked for each file six times and printed each retry (44 lines over 50 s before the
    error); the local hub cache is used as with HF_HUB_OFFLINE=1, so the error is one line.
    The host is under `.invalid`, which never resolves (RFC 2606)."""
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE",
                                                              "TRANSFORMERS_OFFLINE")}
    env.update(HF_ENDPOINT="https://hub.genreward.invalid", HF_HOME=str(tmp_path / "hf"),
               OMP_NUM_THREADS="1")
    argv = [a.format(chain=tiny_chain) for a in argv]
    proc = subprocess.run([sys.executable, "-m", "genreward_cli", *argv], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: --"), proc.stderr
    assert "local" in lines[0] and "cache" in lines[0], lines[0]
    assert not (tmp_path / argv[argv.index("--out") + 1]).exists()
