#!/usr/bin/env bash
# On a machine with network: download what a GPU machine without network lacks to run the
# GPU scripts (bench/*_gpu.sh): the wheels of the project's dependencies that its image does
# not hold, at this venv's versions, into .whl (53 MB), imageio-ffmpeg into .whl-ffmpeg (27 MB),
# and the GL dispatch .deb packages into .gl. The folders are git-ignored; carry them with the
# working tree, .whl and .gl in one call and .whl-ffmpeg in the next (see bench/gpu_env.sh).
# The wheels are for CPython 3.12 on x86-64 Linux, the GPU machine's Python (this venv's may
# differ).
#
#   bash bench/gpu_carry.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
# what the GPU machine's image lacks (its pip list has torch,
# transformers, accelerate, peft, timm, h5py, click, rich, imageio, tqdm and more)
NAMES="diffusers importlib_metadata open_clip_torch ftfy wcwidth metaworld mujoco glfw gymnasium farama-notifications"
specs=()
for name in $NAMES; do
  version=$("$PY" -m pip show "$name" 2>/dev/null | sed -n 's/^Version: //p' || true)
  [ -n "$version" ] || { echo "not installed in $PY: $name (run make setup first)"; exit 2; }
  specs+=("$name==$version")
done
mkdir -p .whl
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64 \
  --platform any -d .whl "${specs[@]}"
mkdir -p .gl /tmp/amd64/partial
o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
apt-get $o update -qq
# the GL dispatch libraries only: the GPU machine's NVIDIA driver supplies EGL itself
(cd .gl && apt-get $o download libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2 >/dev/null)
# mp4 previews (generate, evaluate): imageio-ffmpeg, whose newer wheels (0.8.1: 68 MB) are over
# one call's 64 MiB; 0.5.1 (27 MB, ffmpeg 7) travels alone in a second call
mkdir -p .whl-ffmpeg
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux2010_x86_64 --platform manylinux2014_x86_64 -d .whl-ffmpeg imageio-ffmpeg==0.5.1
du -sh .whl .whl-ffmpeg .gl
ls .whl .whl-ffmpeg
