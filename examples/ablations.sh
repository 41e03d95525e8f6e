#!/usr/bin/env bash
# The paper's ablations (Fig. 9) on one task: the full reward against no video reward, no FB
# reward, and the env reward alone; then the sensitivity to alpha and beta (eq. 10).
# Needs the goal and fb files of the task, e.g. from `genreward pipeline --preset paper`.
# At the tiny preset on a CPU, after `genreward pipeline --preset tiny --out runs/demo`:
#   PRESET=tiny STEPS=2048 SEEDS=0 DEVICE=cpu D=runs/demo bash examples/ablations.sh
# makes the 8 runs once (the full reward and 7 variants), each about as long as the tiny
# pipeline's agent (316 s on a 2-core AMD EPYC): about 45 minutes. The tiny preset takes the
# pipeline's --prefill 256 and --train-ratio 64; at Table A's 5000 and 512 a run of 5000
# steps or fewer is never updated.
set -euo pipefail
TASK=${TASK:-pick-place-v3}
D=${D:-runs/paper/$TASK}          # holds goal.h5 and fb.h5
SEEDS=${SEEDS:-"0 1 2"}
STEPS=${STEPS:-1000000}
PRESET=${PRESET:-S}
DEVICE=${DEVICE:-cuda}
GR=${GR:-genreward}
if [ "$PRESET" = tiny ]; then
  PREFILL=${PREFILL:-256} TRAIN_RATIO=${TRAIN_RATIO:-64}
else
  PREFILL=${PREFILL:-5000} TRAIN_RATIO=${TRAIN_RATIO:-512}   # Table A
fi
OUT=$D/ablations

common() {
  echo --task "$TASK" --preset "$PRESET" --steps "$STEPS" --device "$DEVICE" \
    --prefill "$PREFILL" --train-ratio "$TRAIN_RATIO"
}
for seed in $SEEDS; do
  g="--reward genreward --goal $D/goal.h5 --fb $D/fb.h5 --seed $seed"
  $GR train-agent $(common) $g --out "$OUT/full/$seed"
  $GR train-agent $(common) $g --no-video-reward --out "$OUT/no-video/$seed"
  $GR train-agent $(common) $g --no-fb-reward --out "$OUT/no-fb/$seed"
  $GR train-agent $(common) --reward env --seed "$seed" --out "$OUT/env/$seed"
  for alpha in 1e-3 1e-1; do
    $GR train-agent $(common) $g --alpha "$alpha" --out "$OUT/alpha-$alpha/$seed"
  done
  for beta in 1e-6 1e-4; do
    $GR train-agent $(common) $g --beta "$beta" --out "$OUT/beta-$beta/$seed"
  done
done
# methods are named from each run's options: "genreward -video", "genreward alpha=0.001", ...
$GR evaluate --compare "$OUT"/*/* --plot "$OUT/ablations.png" --csv "$OUT/ablations.csv" \
  --force
