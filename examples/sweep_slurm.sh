#!/usr/bin/env bash
# A sweep on a SLURM cluster, one stage per node, files as the hand-over:
#   1. a goal job array: per task, generate -> select-frame -> encode-goal -> collect -> train-fb
#   2. a training job array, after it: one (task, method, seed) per array element
#   3. a comparison job, after that.
# Submit with:  bash examples/sweep_slurm.sh submit
# (each array element calls this script back with `goal` or `train`; set ROOT to a shared disk)
set -euo pipefail
TASKS=(pick-place-v3 pick-out-of-hole-v3 bin-picking-v3 shelf-place-v3 disassemble-v3)
METHODS=(genreward env vlm-rm roboclip)
SEEDS=(0 1 2)
STEPS=${STEPS:-1000000}
MODE=${MODE:-dense}
# the baselines add the env reward of $MODE, as genreward's eq. 10 does (paper.sh does too);
# ENV_REWARD= runs their rewards alone
ENV_REWARD=${ENV_REWARD---add-env-reward}
ROOT=${ROOT:-$PWD/runs/sweep}
VIDEO_MODEL=${VIDEO_MODEL:-$PWD/models/cogvideox-bridge}
GR=${GR:-genreward}
# RoboCLIP's S3D weights: s3d_howto100m.pth and s3d_dict.npy from antoine77340/S3D_HowTo100M
S3D_MODEL=${S3D_MODEL:-$PWD/models/s3d_howto100m}
SELF=$(readlink -f "$0")
N_TRAIN=$(( ${#TASKS[@]} * ${#METHODS[@]} * ${#SEEDS[@]} ))

case "${1:-}" in
submit)
  mkdir -p "$ROOT/logs"
  goal=$(sbatch --parsable --array=0-$(( ${#TASKS[@]} - 1 )) --gres=gpu:1 --time=4:00:00 \
    --output="$ROOT/logs/goal-%a.out" "$SELF" goal)
  train=$(sbatch --parsable --array=0-$(( N_TRAIN - 1 )) --dependency=afterok:"$goal" \
    --gres=gpu:1 --time=48:00:00 --requeue --output="$ROOT/logs/train-%a.out" "$SELF" train)
  sbatch --dependency=afterany:"$train" --output="$ROOT/logs/compare.out" --wrap \
    "$GR evaluate --compare $ROOT/*/$MODE/*/* --plot $ROOT/curves.png --csv $ROOT/final.csv --force"
  ;;
goal)
  task=${TASKS[$SLURM_ARRAY_TASK_ID]}
  d=$ROOT/$task
  mkdir -p "$d"
  $GR generate --task "$task" --model "$VIDEO_MODEL" --device cuda \
    --out "$d/goal_video.h5" --mp4 "$d/goal_video.mp4" --force
  $GR select-frame "$d/goal_video.h5" --device cuda --out "$d/goal_frame.h5" --force
  $GR encode-goal "$d/goal_video.h5" "$d/goal_frame.h5" --device cuda --out "$d/goal.h5" --force
  $GR collect --task "$task" --policy random --episodes 20 --workers "${SLURM_CPUS_ON_NODE:-4}" \
    --out "$d/random.h5" --force
  $GR train-fb "$d/random.h5" "$d/goal.h5" --device cuda --out "$d/fb.h5" --force
  ;;
train)
  i=$SLURM_ARRAY_TASK_ID
  seed=${SEEDS[$(( i % ${#SEEDS[@]} ))]}
  method=${METHODS[$(( i / ${#SEEDS[@]} % ${#METHODS[@]} ))]}
  task=${TASKS[$(( i / (${#SEEDS[@]} * ${#METHODS[@]}) ))]}
  d=$ROOT/$task
  out=$d/$MODE/$method/$seed
  args=(--task "$task" --reward-mode "$MODE" --reward "$method" --preset S --steps "$STEPS"
        --seed "$seed" --device cuda --out "$out")
  if [ "$method" = genreward ]; then
    # the reward interval of `pipeline --preset paper` (the official code's, per task)
    case "$task" in
      bin-picking-v3|pick-out-of-hole-v3|shelf-place-v3) interval=64 ;;
      *) interval=128 ;;
    esac
    args+=(--goal "$d/goal.h5" --fb "$d/fb.h5" --fb-train-steps 100000
           --reward-interval "$interval")
  elif [ "$method" = roboclip ]; then
    args+=(--s3d-model "$S3D_MODEL")
  fi
  if [ "$method" != genreward ] && [ "$method" != env ] && [ -n "$ENV_REWARD" ]; then
    args+=("$ENV_REWARD")
  fi
  # a requeued (preempted) element continues from its checkpoint; one killed before its
  # first checkpoint (SIGKILL leaves its folder) starts over
  if [ -f "$out/checkpoint.pt" ]; then args+=(--resume); elif [ -d "$out" ]; then args+=(--force); fi
  $GR train-agent "${args[@]}"
  ;;
*)
  echo "usage: $0 submit" >&2
  exit 2
  ;;
esac
