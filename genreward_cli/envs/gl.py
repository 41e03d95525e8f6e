"""Headless OpenGL for MuJoCo rendering.

MuJoCo picks its GL platform from ``MUJOCO_GL`` when it is first imported, so this module
must be imported (and :func:`configure` called) before ``mujoco`` or ``metaworld``.

``egl`` is the default: it renders offscreen with Mesa's software rasteriser (llvmpipe) on a
CPU-only machine and with the NVIDIA driver on a GPU node. ``osmesa`` is the fallback for
machines without EGL (``apt-get install libosmesa6``). Set ``MUJOCO_GL`` yourself to override.
"""

from __future__ import annotations

import ctypes.util
import os

from genreward_cli.errors import GenrewardError

DEFAULT_BACKEND = "egl"
_LIBS = {"egl": "EGL", "osmesa": "OSMesa", "glfw": "glfw"}


def _load_triton_first() -> None:
    """Load triton's native library before Mesa's.

    Mesa's software renderer (llvmpipe) loads libLLVM; triton's ``libtriton`` carries its own
    LLVM, and loading it *after* Mesa crashes the process (segmentation fault when torch or
    diffusers later import triton). Loaded in the other order, both work.
    """
    import importlib.util

    if importlib.util.find_spec("triton") is not None:
        try:
            import triton._C.libtriton  # noqa: F401
        except ImportError:
            pass


def configure() -> str:
    """Set ``MUJOCO_GL`` (and PyOpenGL's platform) if unset; return the backend in use."""
    backend = os.environ.setdefault("MUJOCO_GL", DEFAULT_BACKEND)
    if backend in ("egl", "osmesa"):
        os.environ.setdefault("PYOPENGL_PLATFORM", backend)
    return backend


def check() -> None:
    """Raise one clear error if the configured backend's library cannot be found."""
    backend = configure()
    lib = _LIBS.get(backend)
    if lib is not None and ctypes.util.find_library(lib) is None:
        raise GenrewardError(
            f"no OpenGL library for MUJOCO_GL={backend} (lib{lib} not found): install "
            "libegl1 and libegl-mesa0 (EGL), or libosmesa6 and set MUJOCO_GL=osmesa"
        )


configure()
_load_triton_first()
