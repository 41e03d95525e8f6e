#!/usr/bin/env bash
# The paper's ablations (Fig. 9) on one task: the full reward against no video reward, no FB
# reward, and the env reward alone; then the sensitivity to alpha and beta (eq. 10).
# Needs the goal and fb files of the task: by default those of examples/paper.sh's dense run
# (runs/paper/$TASK/dense), or any folder holding goal.h5 and fb.h5 (D=...).
# At the tiny preset on a CPU, after `genreward pipeline --preset tiny --out runs/demo`:
#   PRESET=tiny STEPS=2048 SEEDS=0 DEVICE=cpu D=runs/demo bash examples/ablations.sh
# makes the 8 runs once (the full reward and 7 variants), each about as long as the tiny
# pipeline's agent (316 s on a 2-core AMD EPYC): about 45 minutes. The tiny preset takes the
# pipeline's --prefill 256 and --train-ratio 64; at the default 5000 and 512 a run of 5000
# steps or fewer is never updated. Rerun it after a failure or a timeout: a run with a
# checkpoint is resumed (and a finished one left as it is).
set -euo pipefail
TASK=${TASK:-pick-place-v3}
D=${D:-runs/paper/$TASK/dense}    # holds goal.h5 and fb.h5
SEEDS=${SEEDS:-"0 1 2"}
STEPS=${STEPS:-1000000}
PRESET=${PRESET:-S}
DEVICE=${DEVICE:-cuda}
GR=${GR:-genreward}
# as `pipeline --preset tiny|paper` trains its genreward agent: the FB model trains on the
# agent's replay for the first 100k env steps (section 4.1) in the paper preset, not in tiny
if [ "$PRESET" = tiny ]; then
  PREFILL=${PREFILL:-256} TRAIN_RATIO=${TRAIN_RATIO:-64} FB_TRAIN_STEPS=${FB_TRAIN_STEPS:-0}
else
  PREFILL=${PREFILL:-5000} TRAIN_RATIO=${TRAIN_RATIO:-512}   # Table A
  FB_TRAIN_STEPS=${FB_TRAIN_STEPS:-100000}
fi
# the genreward reward interval of `pipeline --preset paper` (the official code's, per task)
case "$TASK" in
  bin-picking-v3|pick-out-of-hole-v3|shelf-place-v3) INTERVAL=${INTERVAL:-64} ;;
  *) INTERVAL=${INTERVAL:-128} ;;
esac
OUT=$D/ablations
common=(--task "$TASK" --preset "$PRESET" --steps "$STEPS" --device "$DEVICE"
        --prefill "$PREFILL" --train-ratio "$TRAIN_RATIO")

train() {  # train OUT ARGS...: a new run, or the one in OUT resumed up to --steps
  local out=$1
  shift
  if [ -f "$out/checkpoint.pt" ]; then
    $GR train-agent --out "$out" --resume --steps "$STEPS" --device "$DEVICE"
  else
    $GR train-agent "${common[@]}" "$@" --out "$out"
  fi
}
for seed in $SEEDS; do
  g=(--reward genreward --goal "$D/goal.h5" --fb "$D/fb.h5" --reward-interval "$INTERVAL"
     --seed "$seed")
  fb=(--fb-train-steps "$FB_TRAIN_STEPS")  # the FB reward's model, trained online as in Fig. 5
  train "$OUT/full/$seed" "${g[@]}" "${fb[@]}"
  train "$OUT/no-video/$seed" "${g[@]}" "${fb[@]}" --no-video-reward
  train "$OUT/no-fb/$seed" "${g[@]}" --no-fb-reward
  train "$OUT/env/$seed" --reward env --seed "$seed"
  for alpha in 1e-3 1e-1; do
    train "$OUT/alpha-$alpha/$seed" "${g[@]}" "${fb[@]}" --alpha "$alpha"
  done
  for beta in 1e-6 1e-4; do
    train "$OUT/beta-$beta/$seed" "${g[@]}" "${fb[@]}" --beta "$beta"
  done
done
# methods are named from each run's options: "genreward -video", "genreward alpha=0.001", ...
$GR evaluate --compare "$OUT"/*/* --plot "$OUT/ablations.png" --csv "$OUT/ablations.csv" \
  --force
