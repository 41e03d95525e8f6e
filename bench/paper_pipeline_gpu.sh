#!/usr/bin/env bash
# The paper preset's pipeline on one GPU, cut to about 8 minutes, on paper-architecture models
# with random weights (no download): CogVideoX-5B-I2V (5.6B transformer, full 3D VAE,
# T5-v1.1-XXL) and DINOv3 ViT-S/16+ written by `genreward init-model`, OpenCLIP ViT-B-32 at
# random weights (--clip-pretrained ''). Prints a per-stage table: wall time, peak GPU memory
# (the stage's torch.cuda.max_memory_allocated and reserved, and nvidia-smi's memory.used),
# and the artifact's main shapes (genreward inspect --json); writes OUT/gpu_report.json.
#
# usage: bench/paper_pipeline_gpu.sh [OUT]                  (default runs/paper-smoke)
#   env: LAYERS, HEADS, TEXT_LAYERS, TEXT_WIDTH   init-model sizes (default: the real model)
#        FRAMES (default 49, native), GENERATE_STEPS (4), FINETUNE_STEPS (2), FB_STEPS (200),
#        STEPS (512 agent steps), PREFILL (256), EPISODES (2), EVAL_EPISODES (1)
#        WHEELS   a folder of wheels for a machine without network (default .whl)
#        MODELS   where the random models go (default OUT/../paper-random-models, ~21 GB)
#
# The Python environment, first that works: .venv (the README's `make setup`); python3 that
# already imports the project's dependencies; python3 plus the wheels in $WHEELS installed
# into /tmp/site (on a machine with torch, transformers, accelerate, peft, timm, h5py
# preinstalled, carry: diffusers, open_clip_torch, ftfy, wcwidth, metaworld, mujoco, glfw,
# gymnasium, farama-notifications, imageio-ffmpeg); else `make setup` (needs network).
# A folder .gl of EGL .deb packages, if present, is unpacked first (offscreen MuJoCo).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/paper-smoke}
export MUJOCO_GL=${MUJOCO_GL:-egl} PYOPENGL_PLATFORM=${PYOPENGL_PLATFORM:-egl}
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false

if [ -d .gl ] && ! ldconfig -p | grep -q libEGL.so.1; then
  for f in .gl/*.deb; do dpkg -x "$f" /; done; ldconfig
fi

deps_ok() { "$1" -c 'import diffusers, open_clip, metaworld, mujoco, h5py, rich, peft, timm' 2>/dev/null; }
WHEELS=${WHEELS:-.whl}
if [ -x .venv/bin/python ] && deps_ok .venv/bin/python; then
  PY=.venv/bin/python
elif deps_ok python3; then
  PY=python3; export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
elif [ -d "$WHEELS" ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site "$WHEELS"/*.whl
  PY=python3; export PYTHONPATH="/tmp/site:$PWD${PYTHONPATH:+:$PYTHONPATH}"
else
  make setup; PY=.venv/bin/python
fi
"$PY" -c 'import torch; assert torch.cuda.is_available(), "no CUDA GPU visible to torch"; print("torch", torch.__version__, torch.cuda.get_device_name(0))'
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true

args=(--out "$OUT" --device cuda --dtype bfloat16
      --episodes "${EPISODES:-2}" --finetune-steps "${FINETUNE_STEPS:-2}"
      --generate-steps "${GENERATE_STEPS:-4}" --fb-steps "${FB_STEPS:-200}"
      --steps "${STEPS:-512}" --prefill "${PREFILL:-256}" --eval-episodes "${EVAL_EPISODES:-1}")
[ -n "${FRAMES:-}" ] && args+=(--frames "$FRAMES")
[ -n "${MODELS:-}" ] && args+=(--models "$MODELS")
[ -n "${LAYERS:-}" ] && args+=(--layers "$LAYERS")
[ -n "${HEADS:-}" ] && args+=(--heads "$HEADS")
[ -n "${TEXT_LAYERS:-}" ] && args+=(--text-layers "$TEXT_LAYERS")
[ -n "${TEXT_WIDTH:-}" ] && args+=(--text-width "$TEXT_WIDTH")
exec "$PY" bench/paper_pipeline_gpu.py "${args[@]}"
