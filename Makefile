# The two commands of the README do all set-up on a fresh machine:
#   make demo   set up, then run the main job
#   make test   set up, then run the tests (the default, fast selection)
# Set-up is idempotent: a stamp file skips the install when nothing changed.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# torch 2.14.1 + torchvision 0.29.1: the pair that installs here with open_clip's torchvision.
# On a GPU machine with your own CUDA torch in the venv, run `make TORCH_SPEC= test`.
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1
STAMP := $(VENV)/.genreward-installed
export MUJOCO_GL ?= egl
export PYOPENGL_PLATFORM ?= egl
DEMO_DIR ?= runs/demo
DEMO_TASK ?= pick-place-v3

.PHONY: setup sysdeps test test-all demo docs bench clean

setup: sysdeps $(STAMP)

# System packages: Mesa's EGL for offscreen MuJoCo rendering, the HDF5 command-line tools.
sysdeps:
	@if ! ldconfig -p | grep -q 'libEGL.so.1' || ! ldconfig -p | grep -q 'libEGL_mesa' \
	    || ! command -v h5ls >/dev/null; then \
	  echo "installing system packages (EGL/Mesa, hdf5-tools)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq \
	    libegl1 libegl-mesa0 libgl1-mesa-dri libgles2 hdf5-tools >/dev/null; \
	fi

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	@if [ -n "$(TORCH_SPEC)" ]; then $(PY) -m pip install -q $(TORCH_SPEC); fi
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

# The numerical comparisons run a second time on AVX2 kernels only, as on CPUs without
# AVX-512 or bf16 instructions, so that no test passes only on the machine it was written on.
AVX2_ONLY := ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2

test: setup
	$(PY) -m pytest -q
	$(AVX2_ONLY) $(PY) -m pytest -q -m numerics -p no:cacheprovider

test-all: setup
	$(PY) -m pytest -q --runslow
	$(AVX2_ONLY) $(PY) -m pytest -q -m numerics --runslow -p no:cacheprovider

# The whole pipeline on tiny presets (random-weight models, a small agent) on a CPU: about
# ten minutes on 2 cores. A re-run skips finished stages. Then an offline check of the reward.
GR := $(VENV)/bin/genreward

demo: setup
	$(GR) pipeline --task $(DEMO_TASK) --out $(DEMO_DIR) --preset tiny
	$(GR) score-reward $(DEMO_DIR)/expert.h5 $(DEMO_DIR)/random.h5 --reward genreward \
	  --goal $(DEMO_DIR)/goal.h5 --fb $(DEMO_DIR)/fb.h5 --out $(DEMO_DIR)/score.h5 \
	  --plot $(DEMO_DIR)/score.png --force
	@echo "look at: $(DEMO_DIR)/goal_video.mp4 $(DEMO_DIR)/goal_frame_scores.png" \
	  "$(DEMO_DIR)/curves.png $(DEMO_DIR)/rollouts.mp4 $(DEMO_DIR)/score.png"

docs: setup
	$(PY) -m genreward_cli.store.docs > docs/artifacts.md
	$(PY) -m genreward_cli.clidoc > docs/cli.md

bench: setup
	$(PY) bench/env_throughput.py
	$(PY) bench/video.py
	$(PY) bench/encoders.py
	$(PY) bench/fb.py --updates 3
	$(PY) bench/agent.py --preset tiny --updates 3
	$(PY) bench/reward_overhead.py --steps 512

clean:
	rm -rf $(VENV) runs .pytest_cache
