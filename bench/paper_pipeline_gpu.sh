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
# The Python environment: bench/gpu_env.sh (.venv, or python3 with the wheels in .whl and
# .whl-ffmpeg that bench/gpu_carry.sh downloads, or `make setup`); .gl's EGL packages
# unpacked first. On a GPU machine without network, two calls: the first carries .whl and .gl
# and runs `. bench/gpu_env.sh` (installs them), the second, at once, carries .whl-ffmpeg and
# runs this script.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/paper-smoke}
NEEDS="torch diffusers open_clip metaworld mujoco h5py rich peft timm click imageio_ffmpeg" \
  . bench/gpu_env.sh
"$PY" -c 'import torch; assert torch.cuda.is_available(), "no CUDA GPU visible to torch"'
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
