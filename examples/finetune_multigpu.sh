#!/usr/bin/env bash
# Finetune CogVideoX-5B-I2V on 8 GPUs of one node with accelerate (data parallel), then
# generate a goal video. accelerate's own config chooses DDP, FSDP or DeepSpeed:
#   accelerate config            # once, interactively; or pass --config_file
# Multi-node: add --num_machines N --machine_rank R --main_process_ip HOST on every node.
set -euo pipefail
MODEL=${MODEL:-THUDM/CogVideoX-5b-I2V}   # hub id (cached) or a local diffusers directory
DATA=${DATA:-data/bridge.h5}             # from: genreward import-videos bridge/ --prompts ...
OUT=${OUT:-models/cogvideox-bridge}

accelerate launch --num_processes 8 --mixed_precision bf16 -m genreward_cli finetune \
  --videos "$DATA" --model "$MODEL" --out "$OUT" \
  --steps 2000 --batch-size 1 --lr 1e-4 --trainable lora --lora-rank 64 \
  --checkpoint-every 250 --device cuda
# After a preemption, the same command with --resume continues from the last checkpoint.

genreward generate --model "$OUT" --prompt "pick up the blue fork" --task pick-place-v3 \
  --frames 49 --steps 50 --guidance 6 --out runs/goal_video.h5 --mp4 runs/goal_video.mp4
