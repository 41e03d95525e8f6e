#!/usr/bin/env bash
# The paper's main experiment (Fig. 5): five Meta-World tasks x seeds x {dense, sparse} env
# reward, GenReward against the DreamerV3 (env reward) baseline, with the real models.
# Needs a GPU and the weights (downloaded on first use, or local directories):
#   video model   THUDM/CogVideoX-5b-I2V, finetuned on Bridge videos (see finetune_multigpu.sh)
#   CLIP          ViT-B-32 / laion2b_s34b_b79k (OpenCLIP)
#   image encoder facebook/dinov3-vits16plus-pretrain-lvd1689m (DINOv3 ViT-S/16+)
# Every command skips nothing by itself: rerun a failed line, or use `genreward pipeline`
# per task, which skips finished stages.
set -euo pipefail
TASKS=${TASKS:-"pick-place-v3 pick-out-of-hole-v3 bin-picking-v3 shelf-place-v3 disassemble-v3"}
SEEDS=${SEEDS:-"0 1 2"}
STEPS=${STEPS:-1000000}
VIDEO_MODEL=${VIDEO_MODEL:-models/cogvideox-bridge}   # from finetune_multigpu.sh
ROOT=${ROOT:-runs/paper}
GR=${GR:-genreward}

for task in $TASKS; do
  d=$ROOT/$task
  mkdir -p "$d"
  # goal: generate from the task's first frame, pick the goal frame, encode both (eq. 4-6)
  $GR generate --task "$task" --model "$VIDEO_MODEL" --frames 49 \
    --steps 50 --guidance 6 --device cuda --out "$d/goal_video.h5" --mp4 "$d/goal_video.mp4"
  $GR select-frame "$d/goal_video.h5" --device cuda --out "$d/goal_frame.h5" \
    --plot "$d/goal_frame_scores.png"
  $GR encode-goal "$d/goal_video.h5" "$d/goal_frame.h5" --device cuda --out "$d/goal.h5"
  # an initial FB model on random play; train-agent trains it on its replay for 100k steps
  $GR collect --task "$task" --policy random --episodes 20 --workers 8 --out "$d/random.h5"
  $GR train-fb "$d/random.h5" "$d/goal.h5" --device cuda --out "$d/fb.h5"
  for mode in dense sparse; do
    for seed in $SEEDS; do
      $GR train-agent --task "$task" --reward-mode "$mode" --reward genreward \
        --goal "$d/goal.h5" --fb "$d/fb.h5" --fb-train-steps 100000 --preset S \
        --steps "$STEPS" --seed "$seed" --device cuda --out "$d/$mode/genreward/$seed"
      $GR train-agent --task "$task" --reward-mode "$mode" --reward env --preset S \
        --steps "$STEPS" --seed "$seed" --device cuda --out "$d/$mode/env/$seed"
    done
  done
done

# Fig. 5: learning curves (mean and std over seeds) and the table of final returns
$GR evaluate --compare "$ROOT"/*/*/*/* --plot "$ROOT/curves.png" --csv "$ROOT/final.csv"
