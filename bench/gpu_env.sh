# Sourced by the GPU scripts (bench/*_gpu.sh): sets PY to a Python that imports the modules
# named in $NEEDS (default: all of the project's), on a fresh GPU machine with or without
# network, and exports what the project needs (offscreen MuJoCo, no hub access).
#
#   NEEDS="torch click h5py rich" . bench/gpu_env.sh
#
# In order:
# - a folder .gl of EGL .deb packages, if present, is unpacked (offscreen MuJoCo);
# - the folders of wheels in $WHEELS (default: .whl and .whl-ffmpeg), those present, are
#   installed into /tmp/site, each once per machine, and /tmp/site put on PYTHONPATH
#   (bench/gpu_carry.sh downloads them on a machine with network; the GPU machine's image
#   already has torch, transformers, accelerate, peft, timm, h5py, click, rich, imageio).
#   Together they are over one call's 64 MiB, so .whl-ffmpeg travels in a second call: a
#   warm machine keeps the first call's ignored folders and /tmp;
# - then the first Python that imports $NEEDS: .venv (the README's `make setup`), python3
#   with the checkout on PYTHONPATH; else `make setup` (needs network).
export MUJOCO_GL=${MUJOCO_GL:-egl} PYOPENGL_PLATFORM=${PYOPENGL_PLATFORM:-egl}
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
NEEDS=${NEEDS:-"torch diffusers open_clip metaworld mujoco h5py rich peft timm click"}
WHEELS=${WHEELS:-".whl .whl-ffmpeg"}

if ls .gl/*.deb >/dev/null 2>&1 && ! ldconfig -p | grep -q libEGL.so.1; then
  for f in .gl/*.deb; do dpkg -x "$f" /; done
  ldconfig
fi
nvidia_egl=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
if [ -f "$nvidia_egl" ] && [ -z "${__EGL_VENDOR_LIBRARY_FILENAMES:-}" ]; then
  export __EGL_VENDOR_LIBRARY_FILENAMES=$nvidia_egl
fi
for folder in $WHEELS; do
  marker=/tmp/site/.installed-${folder#.}
  if ls "$folder"/*.whl >/dev/null 2>&1 && [ ! -f "$marker" ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
      --target /tmp/site "$folder"/*.whl && touch "$marker"
  fi
done
if ls /tmp/site/.installed-* >/dev/null 2>&1; then
  export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
fi

_imports() { "$1" -c "import $(echo "$NEEDS" | tr ' ' ',')" 2>/dev/null; }
if [ -x .venv/bin/python ] && _imports .venv/bin/python; then
  PY=.venv/bin/python
elif _imports python3; then
  PY=python3
  export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
else
  echo "no Python here imports: $NEEDS; trying make setup (needs network)"
  if make setup; then
    PY=.venv/bin/python
  else
    echo "bench/gpu_env.sh: no Python with $NEEDS, and make setup failed" >&2
    return 1 2>/dev/null || exit 1
  fi
fi
"$PY" -c 'import torch; print("python", __import__("sys").executable, "torch", torch.__version__,
  "CUDA", torch.version.cuda, "GPU", torch.cuda.get_device_name() if torch.cuda.is_available() else None)'
