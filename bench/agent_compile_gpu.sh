#!/usr/bin/env bash
# The compiled DreamerV3 update on a fresh GPU machine, in about 8 minutes: set-up
# (bench/gpu_env.sh), the compiled-against-eager tests on CUDA (update and policy step, both
# compile modes), then bench/agent.py --compile MODE --acting at the S preset (batch 16 x 64),
# first MODE=graphs (the traced graph replayed as CUDA graphs, no Inductor: compiles in about
# the time of a trace), then MODE=on (Inductor, which may take longer than its stage to compile
# the unrolled S update; its eager figures print first): eager and compiled updates and policy
# steps alternated in one process, batch sampling from the host replay and from its copy on
# the GPU, and env steps/s at train ratio 512 for each path.
#
#   bash bench/agent_compile_gpu.sh            # from the repository root
#
# Each stage has its own time limit (seconds; TEST_S, GRAPHS_S, BENCH_S) so that a slow one
# cannot eat the others' time; a stage that runs out says so and the script goes on. Prints
# the figures of each stage; exits non-zero if any stage failed.
set -uo pipefail
cd "$(dirname "$0")/.."

TEST_S=${TEST_S:-150}
GRAPHS_S=${GRAPHS_S:-100}
BENCH_S=${BENCH_S:-190}
UPDATES=${UPDATES:-10}
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

# the agent needs torch, click, h5py and rich, which the GPU image holds; with bench/gpu_carry.sh's
# wheels carried, metaworld too (the env step's time in --acting)
start=$(date +%s)
NEEDS="torch click h5py rich pytest" . bench/gpu_env.sh || exit 1
echo "== setup: $(( $(date +%s) - start )) s"

# the compiled update against the eager one on CUDA (CUDA graphs), loss by loss and gradient
# by gradient, then the CPU's dynamo check (fast) as a sanity check of the install
stage test "$TEST_S" $PY -m pytest -q -p no:cacheprovider --runslow \
  tests/test_agent_compile.py -k "on_cuda or one_graph or (policy_matches and cuda)"

# S preset, fp32, 16 x 64: eager and compiled medians, ratio, compile time, the machine; the
# policy step, sampling and env steps/s at ratio 512; graphs first, then Inductor
# (TORCH_LOGS=cudagraphs: a graph that CUDA graphs skip says why; recompiles are logged too)
export TORCH_LOGS=${TORCH_LOGS:-cudagraphs,recompiles}
stage bench-graphs "$GRAPHS_S" $PY bench/agent.py --preset S --device cuda --compile graphs \
  --acting --updates "$UPDATES"
stage bench "$BENCH_S" $PY bench/agent.py --preset S --device cuda --compile on --acting \
  --updates "$UPDATES"

exit "$status"
