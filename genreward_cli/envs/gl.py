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


def _pin_glfw_library() -> None:
    """Name the pyGLFW package's own library in ``PYGLFW_LIBRARY`` (if unset and present).

    gymnasium's MuJoCo renderer imports ``glfw`` even when rendering through EGL or OSMesa,
    and pyGLFW, given no library, starts one Python subprocess per candidate file to read its
    version (``glfw/library.py``, ``_glfw_get_version``). Such a subprocess started by a
    ``collect --workers`` worker outlived the worker when Ctrl-C stopped the run (it inherits
    the worker's ignored SIGINT) and printed a BrokenPipeError traceback after ``Aborted!``.
    The offscreen backends never call GLFW, so its bundled library is loaded directly.
    """
    import importlib.util

    if os.environ.get("PYGLFW_LIBRARY"):
        return
    spec = importlib.util.find_spec("glfw")
    if spec is None or not spec.submodule_search_locations:
        return
    variant = os.environ.get("PYGLFW_LIBRARY_VARIANT", "").lower()
    variant = variant if variant in ("x11", "wayland") else "x11"
    for folder in spec.submodule_search_locations:
        lib = os.path.join(folder, variant, "libglfw.so")
        if os.path.isfile(lib):
            os.environ["PYGLFW_LIBRARY"] = lib
            return


def configure() -> str:
    """Set ``MUJOCO_GL`` (and PyOpenGL's platform) if unset; return the backend in use.

    With an offscreen backend (``egl``, ``osmesa``) pyGLFW's library is pinned too
    (:func:`_pin_glfw_library`), so importing the renderer starts no subprocess.
    """
    backend = os.environ.setdefault("MUJOCO_GL", DEFAULT_BACKEND)
    if backend in ("egl", "osmesa"):
        os.environ.setdefault("PYOPENGL_PLATFORM", backend)
        _pin_glfw_library()
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
