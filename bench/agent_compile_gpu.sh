#!/usr/bin/env bash
# The compiled DreamerV3 update on a fresh GPU machine, in about 8 minutes: set-up (`make
# setup`), the compiled-against-eager tests on CUDA (update and policy step), then
# bench/agent.py --compile --acting at the S preset (batch 16 x 64): eager and compiled
# updates and policy steps alternated in one process, batch sampling from the host replay and
# from its copy on the GPU, and env steps/s at train ratio 512 for each path.
#
#   bash bench/agent_compile_gpu.sh            # from the repository root
#   TORCH_SPEC= bash bench/agent_compile_gpu.sh   # keep a CUDA torch already in .venv
#
# Each stage has its own time limit (seconds; SETUP_S, TEST_S, BENCH_S) so that a slow one
# cannot eat the others' time; a stage that runs out says so and the script goes on. Prints
# the figures of each stage; exits non-zero if any stage failed.
set -uo pipefail
cd "$(dirname "$0")/.."

SETUP_S=${SETUP_S:-120}
TEST_S=${TEST_S:-150}
BENCH_S=${BENCH_S:-210}
UPDATES=${UPDATES:-10}
PY=.venv/bin/python
status=0
# Inductor compiles its GPU kernels in parallel worker processes: one per core
export TORCHINDUCTOR_COMPILE_THREADS=${TORCHINDUCTOR_COMPILE_THREADS:-$(nproc)}

stage() {  # stage NAME SECONDS COMMAND...: run with a time limit, report its end
  local name=$1 limit=$2 start rc
  shift 2
  echo "== $name (limit ${limit}s): $*"
  start=$(date +%s)
  timeout --signal=INT --kill-after=15 "$limit" "$@"
  rc=$?
  if [ "$rc" = 124 ] || [ "$rc" = 130 ]; then
    echo "== $name: out of time after $(( $(date +%s) - start )) s"
  else
    echo "== $name: exit $rc after $(( $(date +%s) - start )) s"
  fi
  [ "$rc" = 0 ] || status=1
  return "$rc"
}

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || status=1

if [ -n "${TORCH_SPEC+set}" ]; then
  stage setup "$SETUP_S" make setup TORCH_SPEC="$TORCH_SPEC"
else
  stage setup "$SETUP_S" make setup
fi
$PY -c "import torch; print('torch', torch.__version__, 'CUDA', torch.version.cuda,
      'device', torch.cuda.get_device_name() if torch.cuda.is_available() else None)" || exit 1

# the compiled update against the eager one on CUDA (CUDA graphs), loss by loss and gradient
# by gradient, then the CPU's dynamo check (fast) as a sanity check of the install
stage test "$TEST_S" $PY -m pytest -q -p no:cacheprovider --runslow \
  tests/test_agent_compile.py -k "on_cuda or one_graph or compiled_policy"

# S preset, fp32, 16 x 64: eager and compiled medians, ratio, compile time, the machine; the
# policy step, sampling and env steps/s at ratio 512
stage bench "$BENCH_S" $PY bench/agent.py --preset S --device cuda --compile --acting \
  --updates "$UPDATES"

exit "$status"
