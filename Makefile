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

test: setup
	$(PY) -m pytest -q

test-all: setup
	$(PY) -m pytest -q --runslow

# The pipeline so far, on tiny presets (random-weight models) on a CPU.
GR := $(VENV)/bin/genreward
demo: setup
	$(GR) collect --task $(DEMO_TASK) --policy expert --episodes 4 --workers 2 \
	  --out $(DEMO_DIR)/expert.h5 --force
	$(GR) inspect $(DEMO_DIR)/expert.h5 --video $(DEMO_DIR)/expert_ep0.mp4
	$(GR) finetune --videos $(DEMO_DIR)/expert.h5 --model tiny --steps 50 --lr 1e-3 \
	  --out $(DEMO_DIR)/video_model --force
	$(GR) generate --task $(DEMO_TASK) --model $(DEMO_DIR)/video_model --frames 49 --steps 50 \
	  --out $(DEMO_DIR)/goal_video.h5 --mp4 $(DEMO_DIR)/goal_video.mp4 --force
	$(GR) select-frame $(DEMO_DIR)/goal_video.h5 --clip-model tiny \
	  --out $(DEMO_DIR)/goal_frame.h5 --plot $(DEMO_DIR)/goal_frame_scores.png --force
	$(GR) encode-goal $(DEMO_DIR)/goal_video.h5 $(DEMO_DIR)/goal_frame.h5 --image-encoder tiny \
	  --out $(DEMO_DIR)/goal.h5 --force
	$(GR) collect --task $(DEMO_TASK) --policy random --episodes 4 --workers 2 --seed 1 \
	  --out $(DEMO_DIR)/random.h5 --force
	$(GR) train-fb $(DEMO_DIR)/random.h5 $(DEMO_DIR)/expert.h5 $(DEMO_DIR)/goal.h5 --steps 300 \
	  --z-dim 64 --hidden-dim 128 --batch-size 256 --out $(DEMO_DIR)/fb.h5 --force
	$(GR) score-reward $(DEMO_DIR)/expert.h5 $(DEMO_DIR)/random.h5 --reward genreward \
	  --goal $(DEMO_DIR)/goal.h5 --fb $(DEMO_DIR)/fb.h5 --out $(DEMO_DIR)/score.h5 \
	  --plot $(DEMO_DIR)/score.png --force
	$(GR) inspect $(DEMO_DIR)/goal.h5

docs: setup
	$(PY) -m genreward_cli.artifacts > docs/artifacts.md
	$(PY) -m genreward_cli.clidoc > docs/cli.md

bench: setup
	$(PY) bench/env_throughput.py
	$(PY) bench/video.py
	$(PY) bench/encoders.py
	$(PY) bench/fb.py --updates 3
	$(PY) bench/agent.py --preset tiny --updates 3

clean:
	rm -rf $(VENV) runs .pytest_cache
