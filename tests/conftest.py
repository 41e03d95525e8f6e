import os
import tempfile

import pytest

os.environ.setdefault("MUJOCO_GL", "egl")
# Built-in presets are materialised here, never in the user's cache.
os.environ["GENREWARD_CACHE"] = tempfile.mkdtemp(prefix="genreward-test-cache-")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", help="also run tests marked slow")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --runslow (make test-all)")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
