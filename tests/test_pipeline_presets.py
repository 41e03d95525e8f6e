"""The pipeline's stage command lines, pinned: each preset's, and with the model, cut and
method options, as `stages` and `genreward pipeline` generate them. A change to a preset must
change these on purpose (finished stages re-run when their command line changes)."""

import shlex

import pytest
from click.testing import CliRunner

from genreward_cli.cli import cli
from genreward_cli.stages import pipeline

ALL = ("genreward", "env", "vlm-rm", "clip-video", "roboclip", "tadpole", "diffusion-reward")
MODELS = {"finetune_model": "/m/cogvideox", "clip_model": "ViT-B-32", "clip_pretrained": "",
          "image_encoder": "/m/dinov3", "s3d_model": "/m/s3d", "tadpole_model": "/m/sd"}
CUTS = dict(episodes=2, finetune_steps=3, frames=9, generate_steps=4, fb_steps=200, prefill=128,
            eval_episodes=1)
# `stages` keyword arguments ("cuts" as a dict of Cuts fields)
CASES = {
    "tiny": dict(task="reach-v3", preset="tiny"),
    "paper": dict(task="shelf-place-v3", preset="paper"),
    "paper pick-place cuda": dict(task="pick-place-v3", preset="paper", device="cuda"),
    "tiny every method": dict(task="bin-picking-v3", preset="tiny", seed=3, steps=300,
                              reward_mode="sparse", methods=ALL, seeds=(0, 1)),
    "paper every method, models, cuts": dict(task="bin-picking-v3", preset="paper", methods=ALL,
                                             seeds=(0,), models=MODELS, cuts=CUTS, device="cuda"),
    "tiny models, cuts, videos": dict(task="reach-v3", preset="tiny", models=MODELS, cuts=CUTS,
                                      videos="/m/bridge.h5"),
    "paper video model": dict(task="pick-out-of-hole-v3", preset="paper",
                              methods=("genreward", "env"), video_model="/m/vm"),
    "tiny video model, clip pretrained": dict(task="reach-v3", preset="tiny",
                                              models={"clip_pretrained": ""},
                                              video_model="org/model"),
    "tiny diffusion-reward": dict(task="reach-v3", preset="tiny",
                                  methods=("diffusion-reward",), cuts=dict(episodes=7)),
    "paper diffusion-reward, clip baselines": dict(
        task="disassemble-v3", preset="paper", methods=("diffusion-reward", "vlm-rm", "clip-video"),
        models={"clip_pretrained": "openai"}),
    "paper cut prefill and eval": dict(task="reach-v3", preset="paper",
                                       cuts=dict(prefill=64, eval_episodes=2, frames=17)),
}
# `genreward pipeline --out DIR --dry-run ARGS` (paths that do not exist are passed as given)
CLI = {
    "defaults": [],
    "paper smoke": ["--preset", "paper", "--device", "cuda", "--finetune-model", "/m/cogvideox",
                    "--image-encoder", "/m/dinov3", "--clip-pretrained", "", "--episodes", "2",
                    "--finetune-steps", "2", "--generate-steps", "4", "--fb-steps", "200",
                    "--steps", "512", "--prefill", "256", "--eval-episodes", "1"],
    "paper fig5": ["--preset", "paper", "--task", "bin-picking-v3", "--methods",
                   "genreward,env,roboclip,tadpole", "--seeds", "0,1,2", "--s3d-model", "/m/s3d",
                   "--reward-mode", "sparse"],
    "tiny baselines": ["--methods", "env,diffusion-reward,vlm-rm", "--clip-model", "ViT-B-32",
                       "--frames", "17", "--seed", "5", "--tadpole-model", "tiny"],
    "paper video model": ["--preset", "paper", "--video-model", "org/cogvideox-bridge",
                          "--clip-model", "ViT-L-14"],
    "tiny videos": ["--videos", "/m/bridge.h5", "--image-encoder", "/m/dinov3", "--steps", "100"],
}


def describe(stage) -> str:
    """One stage as a line: name | command line | marker, kind, resumable, steps, outputs."""
    return (f"{stage.name} | {shlex.join(stage.argv)} | {stage.marker} {stage.kind} "
            f"{stage.resumable} {stage.done_steps} {stage.outputs}")


def plan(case: dict) -> list[str]:
    kw = dict(case)
    if "cuts" in kw:
        kw["cuts"] = pipeline.Cuts(**kw["cuts"])
    return [describe(s) for s in pipeline.stages(**kw)]


def cli_plan(args: list, monkeypatch, tmp_path) -> list[str]:
    """The stages `pipeline --dry-run ARGS` plans (plan_status stubbed: nothing runs)."""
    seen = []

    def plan_status(plan, root):
        seen.extend(describe(s) for s in plan)
        return [("run", "no output yet")] * len(plan)

    monkeypatch.setattr(pipeline, "plan_status", plan_status)
    r = CliRunner().invoke(cli, ["pipeline", "--out", str(tmp_path / "p"), "--dry-run", *args])
    assert r.exit_code == 0, r.stderr
    assert not (tmp_path / "p").exists()  # a dry run writes nothing
    return seen


@pytest.mark.parametrize("name", CASES)
def test_stage_command_lines_are_pinned(name):
    assert plan(CASES[name]) == PLANS[name]


@pytest.mark.parametrize("name", CLI)
def test_pipeline_command_plans_are_pinned(name, monkeypatch, tmp_path):
    assert cli_plan(CLI[name], monkeypatch, tmp_path) == CLI_PLANS[name]


def test_a_preset_is_one_declaration_the_command_lines_come_from():
    """A preset made from another with one stage's options changed changes that stage's
    command line alone; cuts replace a preset's value in place or follow its options."""
    from dataclasses import replace

    base = {s.name: s.argv for s in pipeline.stages("reach-v3", pipeline.TINY)}
    fb = replace(pipeline.TINY, name="fb", train_fb={"--steps": 7, "--z-dim": 8})
    plan = {s.name: s.argv for s in pipeline.stages("reach-v3", fb)}
    assert plan.pop("train-fb")[4:10] == ["--steps", "7", "--z-dim", "8", "--seed", "0"]
    base.pop("train-fb")
    assert plan == base
    assert pipeline.flags({"--a": 1, "--b": "x"}, {"--b": None, "--c": 3}, {"--a": 2}) == [
        "--a", "2", "--b", "x", "--c", "3"]
    with pytest.raises(TypeError):
        pipeline.PAPER.evaluate["--episodes"] = 1  # read-only
    assert pipeline.interval("shelf-place-v3", "paper") == 64
    assert pipeline.interval("shelf-place-v3", pipeline.TINY) == 128


# captured from the argv-list presets these replaced
PLANS = {'tiny': ['collect expert | collect --task reach-v3 --reward-mode dense --policy expert '
          '--episodes 4 --workers 2 --seed 0 --out expert.h5 | expert.h5 episodes False None []',
          'finetune | finetune --videos expert.h5 --model tiny --steps 50 --lr 1e-3 --seed 0 '
          '--device auto --out video_model | video_model/finetune_log.h5 finetune_log True 50 '
          '[]',
          'generate | generate --task reach-v3 --model video_model --seed 0 --device auto --out '
          'goal_video.h5 --mp4 goal_video.mp4 | goal_video.h5 goal_video False None '
          "['goal_video.mp4']",
          'select-frame | select-frame goal_video.h5 --clip-model tiny --device auto --out '
          'goal_frame.h5 --plot goal_frame_scores.png | goal_frame.h5 goal_frame False None '
          "['goal_frame_scores.png']",
          'encode-goal | encode-goal goal_video.h5 goal_frame.h5 --image-encoder tiny --seed 0 '
          '--device auto --out goal.h5 | goal.h5 goal False None []',
          'collect random | collect --task reach-v3 --reward-mode dense --policy random '
          '--episodes 4 --workers 2 --seed 1 --out random.h5 | random.h5 episodes False None []',
          'train-fb | train-fb expert.h5 random.h5 goal.h5 --steps 300 --z-dim 64 --hidden-dim '
          '128 --batch-size 256 --seed 0 --device auto --out fb.h5 | fb.h5 fb True None []',
          'train-agent | train-agent --task reach-v3 --reward-mode dense --reward genreward '
          '--goal goal.h5 --fb fb.h5 --steps 2048 --preset tiny --train-ratio 64 --prefill 256 '
          '--eval-every 512 --eval-episodes 5 --seed 0 --device auto --out agent | agent/log.h5 '
          'agent_log True 2048 []',
          'evaluate | evaluate agent --episodes 5 --seed 0 --device auto --out eval.h5 --video '
          "rollouts.mp4 | eval.h5 eval False None ['rollouts.mp4']"],
 'paper': ['collect expert | collect --task shelf-place-v3 --reward-mode dense --policy expert '
           '--episodes 20 --workers 2 --seed 0 --out expert.h5 | expert.h5 episodes False None []',
           'finetune | finetune --videos expert.h5 --seed 0 --device auto --out video_model | '
           'video_model/finetune_log.h5 finetune_log True 1000 []',
           'generate | generate --task shelf-place-v3 --model video_model --seed 0 --device auto '
           '--out goal_video.h5 --mp4 goal_video.mp4 | goal_video.h5 goal_video False None '
           "['goal_video.mp4']",
           'select-frame | select-frame goal_video.h5 --device auto --out goal_frame.h5 --plot '
           "goal_frame_scores.png | goal_frame.h5 goal_frame False None ['goal_frame_scores.png']",
           'encode-goal | encode-goal goal_video.h5 goal_frame.h5 --seed 0 --device auto --out '
           'goal.h5 | goal.h5 goal False None []',
           'collect random | collect --task shelf-place-v3 --reward-mode dense --policy random '
           '--episodes 20 --workers 2 --seed 1 --out random.h5 | random.h5 episodes False None []',
           'train-fb | train-fb expert.h5 random.h5 goal.h5 --seed 0 --device auto --out fb.h5 | '
           'fb.h5 fb True None []',
           'train-agent | train-agent --task shelf-place-v3 --reward-mode dense --reward '
           'genreward --goal goal.h5 --fb fb.h5 --steps 1000000 --preset S --reward-interval 64 '
           '--fb-train-steps 100000 --seed 0 --device auto --out agent | agent/log.h5 agent_log '
           'True 1000000 []',
           'evaluate | evaluate agent --episodes 10 --seed 0 --device auto --out eval.h5 --video '
           "rollouts.mp4 | eval.h5 eval False None ['rollouts.mp4']"],
 'paper pick-place cuda': ['collect expert | collect --task pick-place-v3 --reward-mode dense '
                           '--policy expert --episodes 20 --workers 2 --seed 0 --out expert.h5 | '
                           'expert.h5 episodes False None []',
                           'finetune | finetune --videos expert.h5 --seed 0 --device cuda --out '
                           'video_model | video_model/finetune_log.h5 finetune_log True 1000 []',
                           'generate | generate --task pick-place-v3 --model video_model --seed 0 '
                           '--device cuda --out goal_video.h5 --mp4 goal_video.mp4 | '
                           "goal_video.h5 goal_video False None ['goal_video.mp4']",
                           'select-frame | select-frame goal_video.h5 --device cuda --out '
                           'goal_frame.h5 --plot goal_frame_scores.png | goal_frame.h5 goal_frame '
                           "False None ['goal_frame_scores.png']",
                           'encode-goal | encode-goal goal_video.h5 goal_frame.h5 --seed 0 '
                           '--device cuda --out goal.h5 | goal.h5 goal False None []',
                           'collect random | collect --task pick-place-v3 --reward-mode dense '
                           '--policy random --episodes 20 --workers 2 --seed 1 --out random.h5 | '
                           'random.h5 episodes False None []',
                           'train-fb | train-fb expert.h5 random.h5 goal.h5 --seed 0 --device '
                           'cuda --out fb.h5 | fb.h5 fb True None []',
                           'train-agent | train-agent --task pick-place-v3 --reward-mode dense '
                           '--reward genreward --goal goal.h5 --fb fb.h5 --steps 1000000 --preset '
                           'S --fb-train-steps 100000 --seed 0 --device cuda --out agent | '
                           'agent/log.h5 agent_log True 1000000 []',
                           'evaluate | evaluate agent --episodes 10 --seed 0 --device cuda --out '
                           'eval.h5 --video rollouts.mp4 | eval.h5 eval False None '
                           "['rollouts.mp4']"],
 'tiny every method': ['collect expert | collect --task bin-picking-v3 --reward-mode sparse '
                       '--policy expert --episodes 4 --workers 2 --seed 3 --out expert.h5 | '
                       'expert.h5 episodes False None []',
                       'finetune | finetune --videos expert.h5 --model tiny --steps 50 --lr 1e-3 '
                       '--seed 3 --device auto --out video_model | video_model/finetune_log.h5 '
                       'finetune_log True 50 []',
                       'generate | generate --task bin-picking-v3 --model video_model --seed 3 '
                       '--device auto --out goal_video.h5 --mp4 goal_video.mp4 | goal_video.h5 '
                       "goal_video False None ['goal_video.mp4']",
                       'select-frame | select-frame goal_video.h5 --clip-model tiny --device auto '
                       '--out goal_frame.h5 --plot goal_frame_scores.png | goal_frame.h5 '
                       "goal_frame False None ['goal_frame_scores.png']",
                       'encode-goal | encode-goal goal_video.h5 goal_frame.h5 --image-encoder '
                       'tiny --seed 3 --device auto --out goal.h5 | goal.h5 goal False None []',
                       'collect random | collect --task bin-picking-v3 --reward-mode sparse '
                       '--policy random --episodes 4 --workers 2 --seed 4 --out random.h5 | '
                       'random.h5 episodes False None []',
                       'train-fb | train-fb expert.h5 random.h5 goal.h5 --steps 300 --z-dim 64 '
                       '--hidden-dim 128 --batch-size 256 --seed 3 --device auto --out fb.h5 | '
                       'fb.h5 fb True None []',
                       'train-video-model | train-video-model expert.h5 --kind vqdiffusion '
                       '--preset tiny --codec-steps 50 --steps 50 --batch-size 8 --seed 3 '
                       '--device auto --out dr_model | dr_model/diffusion_reward.json model '
                       'directory False None []',
                       'train-agent genreward 0 | train-agent --task bin-picking-v3 --reward-mode '
                       'sparse --reward genreward --goal goal.h5 --fb fb.h5 --steps 300 --preset '
                       'tiny --train-ratio 64 --prefill 256 --eval-every 512 --eval-episodes 5 '
                       '--seed 0 --device auto --out runs/genreward/0 | runs/genreward/0/log.h5 '
                       'agent_log True 300 []',
                       'evaluate genreward 0 | evaluate runs/genreward/0 --episodes 5 --seed 0 '
                       '--device auto --out evals/genreward-0.h5 | evals/genreward-0.h5 eval '
                       'False None []',
                       'train-agent genreward 1 | train-agent --task bin-picking-v3 --reward-mode '
                       'sparse --reward genreward --goal goal.h5 --fb fb.h5 --steps 300 --preset '
                       'tiny --train-ratio 64 --prefill 256 --eval-every 512 --eval-episodes 5 '
                       '--seed 1 --device auto --out runs/genreward/1 | runs/genreward/1/log.h5 '
                       'agent_log True 300 []',
                       'evaluate genreward 1 | evaluate runs/genreward/1 --episodes 5 --seed 1 '
                       '--device auto --out evals/genreward-1.h5 | evals/genreward-1.h5 eval '
                       'False None []',
                       'train-agent env 0 | train-agent --task bin-picking-v3 --reward-mode '
                       'sparse --reward env --steps 300 --preset tiny --train-ratio 64 --prefill '
                       '256 --eval-every 512 --eval-episodes 5 --seed 0 --device auto --out '
                       'runs/env/0 | runs/env/0/log.h5 agent_log True 300 []',
                       'evaluate env 0 | evaluate runs/env/0 --episodes 5 --seed 0 --device auto '
                       '--out evals/env-0.h5 | evals/env-0.h5 eval False None []',
                       'train-agent env 1 | train-agent --task bin-picking-v3 --reward-mode '
                       'sparse --reward env --steps 300 --preset tiny --train-ratio 64 --prefill '
                       '256 --eval-every 512 --eval-episodes 5 --seed 1 --device auto --out '
                       'runs/env/1 | runs/env/1/log.h5 agent_log True 300 []',
                       'evaluate env 1 | evaluate runs/env/1 --episodes 5 --seed 1 --device auto '
                       '--out evals/env-1.h5 | evals/env-1.h5 eval False None []',
                       'train-agent vlm-rm 0 | train-agent --task bin-picking-v3 --reward-mode '
                       'sparse --reward vlm-rm --clip-model tiny --steps 300 --preset tiny '
                       '--train-ratio 64 --prefill 256 --eval-every 512 --eval-episodes 5 --seed '
                       '0 --device auto --out runs/vlm-rm/0 | runs/vlm-rm/0/log.h5 agent_log True '
                       '300 []',
                       'evaluate vlm-rm 0 | evaluate runs/vlm-rm/0 --episodes 5 --seed 0 --device '
                       'auto --out evals/vlm-rm-0.h5 | evals/vlm-rm-0.h5 eval False None []',
                       'train-agent vlm-rm 1 | train-agent --task bin-picking-v3 --reward-mode '
                       'sparse --reward vlm-rm --clip-model tiny --steps 300 --preset tiny '
                       '--train-ratio 64 --prefill 256 --eval-every 512 --eval-episodes 5 --seed '
                       '1 --device auto --out runs/vlm-rm/1 | runs/vlm-rm/1/log.h5 agent_log True '
                       '300 []',
                       'evaluate vlm-rm 1 | evaluate runs/vlm-rm/1 --episodes 5 --seed 1 --device '
                       'auto --out evals/vlm-rm-1.h5 | evals/vlm-rm-1.h5 eval False None []',
                       'train-agent clip-video 0 | train-agent --task bin-picking-v3 '
                       '--reward-mode sparse --reward clip-video --clip-model tiny --steps 300 '
                       '--preset tiny --train-ratio 64 --prefill 256 --eval-every 512 '
                       '--eval-episodes 5 --seed 0 --device auto --out runs/clip-video/0 | '
                       'runs/clip-video/0/log.h5 agent_log True 300 []',
                       'evaluate clip-video 0 | evaluate runs/clip-video/0 --episodes 5 --seed 0 '
                       '--device auto --out evals/clip-video-0.h5 | evals/clip-video-0.h5 eval '
                       'False None []',
                       'train-agent clip-video 1 | train-agent --task bin-picking-v3 '
                       '--reward-mode sparse --reward clip-video --clip-model tiny --steps 300 '
                       '--preset tiny --train-ratio 64 --prefill 256 --eval-every 512 '
                       '--eval-episodes 5 --seed 1 --device auto --out runs/clip-video/1 | '
                       'runs/clip-video/1/log.h5 agent_log True 300 []',
                       'evaluate clip-video 1 | evaluate runs/clip-video/1 --episodes 5 --seed 1 '
                       '--device auto --out evals/clip-video-1.h5 | evals/clip-video-1.h5 eval '
                       'False None []',
                       'train-agent roboclip 0 | train-agent --task bin-picking-v3 --reward-mode '
                       'sparse --reward roboclip --s3d-model tiny --steps 300 --preset tiny '
                       '--train-ratio 64 --prefill 256 --eval-every 512 --eval-episodes 5 --seed '
                       '0 --device auto --out runs/roboclip/0 | runs/roboclip/0/log.h5 agent_log '
                       'True 300 []',
                       'evaluate roboclip 0 | evaluate runs/roboclip/0 --episodes 5 --seed 0 '
                       '--device auto --out evals/roboclip-0.h5 | evals/roboclip-0.h5 eval False '
                       'None []',
                       'train-agent roboclip 1 | train-agent --task bin-picking-v3 --reward-mode '
                       'sparse --reward roboclip --s3d-model tiny --steps 300 --preset tiny '
                       '--train-ratio 64 --prefill 256 --eval-every 512 --eval-episodes 5 --seed '
                       '1 --device auto --out runs/roboclip/1 | runs/roboclip/1/log.h5 agent_log '
                       'True 300 []',
                       'evaluate roboclip 1 | evaluate runs/roboclip/1 --episodes 5 --seed 1 '
                       '--device auto --out evals/roboclip-1.h5 | evals/roboclip-1.h5 eval False '
                       'None []',
                       'train-agent tadpole 0 | train-agent --task bin-picking-v3 --reward-mode '
                       'sparse --reward tadpole --tadpole-model tiny --steps 300 --preset tiny '
                       '--train-ratio 64 --prefill 256 --eval-every 512 --eval-episodes 5 --seed '
                       '0 --device auto --out runs/tadpole/0 | runs/tadpole/0/log.h5 agent_log '
                       'True 300 []',
                       'evaluate tadpole 0 | evaluate runs/tadpole/0 --episodes 5 --seed 0 '
                       '--device auto --out evals/tadpole-0.h5 | evals/tadpole-0.h5 eval False '
                       'None []',
                       'train-agent tadpole 1 | train-agent --task bin-picking-v3 --reward-mode '
                       'sparse --reward tadpole --tadpole-model tiny --steps 300 --preset tiny '
                       '--train-ratio 64 --prefill 256 --eval-every 512 --eval-episodes 5 --seed '
                       '1 --device auto --out runs/tadpole/1 | runs/tadpole/1/log.h5 agent_log '
                       'True 300 []',
                       'evaluate tadpole 1 | evaluate runs/tadpole/1 --episodes 5 --seed 1 '
                       '--device auto --out evals/tadpole-1.h5 | evals/tadpole-1.h5 eval False '
                       'None []',
                       'train-agent diffusion-reward 0 | train-agent --task bin-picking-v3 '
                       '--reward-mode sparse --reward diffusion-reward --diffusion-reward-model '
                       'dr_model --diffusion-reward-rnd-batch 16 --steps 300 --preset tiny '
                       '--train-ratio 64 --prefill 256 --eval-every 512 --eval-episodes 5 --seed '
                       '0 --device auto --out runs/diffusion-reward/0 | '
                       'runs/diffusion-reward/0/log.h5 agent_log True 300 []',
                       'evaluate diffusion-reward 0 | evaluate runs/diffusion-reward/0 --episodes '
                       '5 --seed 0 --device auto --out evals/diffusion-reward-0.h5 | '
                       'evals/diffusion-reward-0.h5 eval False None []',
                       'train-agent diffusion-reward 1 | train-agent --task bin-picking-v3 '
                       '--reward-mode sparse --reward diffusion-reward --diffusion-reward-model '
                       'dr_model --diffusion-reward-rnd-batch 16 --steps 300 --preset tiny '
                       '--train-ratio 64 --prefill 256 --eval-every 512 --eval-episodes 5 --seed '
                       '1 --device auto --out runs/diffusion-reward/1 | '
                       'runs/diffusion-reward/1/log.h5 agent_log True 300 []',
                       'evaluate diffusion-reward 1 | evaluate runs/diffusion-reward/1 --episodes '
                       '5 --seed 1 --device auto --out evals/diffusion-reward-1.h5 | '
                       'evals/diffusion-reward-1.h5 eval False None []'],
 'paper every method, models, cuts': ['collect expert | collect --task bin-picking-v3 '
                                      '--reward-mode dense --policy expert --episodes 2 --workers '
                                      '2 --seed 0 --out expert.h5 | expert.h5 episodes False None '
                                      '[]',
                                      'finetune | finetune --videos expert.h5 --model '
                                      '/m/cogvideox --steps 3 --frames 9 --seed 0 --device cuda '
                                      '--out video_model | video_model/finetune_log.h5 '
                                      'finetune_log True 3 []',
                                      'generate | generate --task bin-picking-v3 --model '
                                      'video_model --steps 4 --frames 9 --seed 0 --device cuda '
                                      '--out goal_video.h5 --mp4 goal_video.mp4 | goal_video.h5 '
                                      "goal_video False None ['goal_video.mp4']",
                                      'select-frame | select-frame goal_video.h5 --clip-model '
                                      "ViT-B-32 --clip-pretrained '' --device cuda --out "
                                      'goal_frame.h5 --plot goal_frame_scores.png | goal_frame.h5 '
                                      "goal_frame False None ['goal_frame_scores.png']",
                                      'encode-goal | encode-goal goal_video.h5 goal_frame.h5 '
                                      '--image-encoder /m/dinov3 --seed 0 --device cuda --out '
                                      'goal.h5 | goal.h5 goal False None []',
                                      'collect random | collect --task bin-picking-v3 '
                                      '--reward-mode dense --policy random --episodes 2 --workers '
                                      '2 --seed 1 --out random.h5 | random.h5 episodes False None '
                                      '[]',
                                      'train-fb | train-fb expert.h5 random.h5 goal.h5 --steps '
                                      '200 --seed 0 --device cuda --out fb.h5 | fb.h5 fb True '
                                      'None []',
                                      'train-video-model | train-video-model expert.h5 --kind '
                                      'vqdiffusion --seed 0 --device cuda --out dr_model | '
                                      'dr_model/diffusion_reward.json model directory False None '
                                      '[]',
                                      'train-agent genreward 0 | train-agent --task '
                                      'bin-picking-v3 --reward-mode dense --reward genreward '
                                      '--goal goal.h5 --fb fb.h5 --steps 1000000 --preset S '
                                      '--reward-interval 64 --fb-train-steps 100000 --prefill 128 '
                                      '--eval-episodes 1 --seed 0 --device cuda --out '
                                      'runs/genreward/0 | runs/genreward/0/log.h5 agent_log True '
                                      '1000000 []',
                                      'evaluate genreward 0 | evaluate runs/genreward/0 '
                                      '--episodes 1 --seed 0 --device cuda --out '
                                      'evals/genreward-0.h5 | evals/genreward-0.h5 eval False '
                                      'None []',
                                      'train-agent env 0 | train-agent --task bin-picking-v3 '
                                      '--reward-mode dense --reward env --steps 1000000 --preset '
                                      'S --prefill 128 --eval-episodes 1 --seed 0 --device cuda '
                                      '--out runs/env/0 | runs/env/0/log.h5 agent_log True '
                                      '1000000 []',
                                      'evaluate env 0 | evaluate runs/env/0 --episodes 1 --seed 0 '
                                      '--device cuda --out evals/env-0.h5 | evals/env-0.h5 eval '
                                      'False None []',
                                      'train-agent vlm-rm 0 | train-agent --task bin-picking-v3 '
                                      '--reward-mode dense --reward vlm-rm --clip-model ViT-B-32 '
                                      "--clip-pretrained '' --steps 1000000 --preset S --prefill "
                                      '128 --eval-episodes 1 --seed 0 --device cuda --out '
                                      'runs/vlm-rm/0 | runs/vlm-rm/0/log.h5 agent_log True '
                                      '1000000 []',
                                      'evaluate vlm-rm 0 | evaluate runs/vlm-rm/0 --episodes 1 '
                                      '--seed 0 --device cuda --out evals/vlm-rm-0.h5 | '
                                      'evals/vlm-rm-0.h5 eval False None []',
                                      'train-agent clip-video 0 | train-agent --task '
                                      'bin-picking-v3 --reward-mode dense --reward clip-video '
                                      "--clip-model ViT-B-32 --clip-pretrained '' --steps 1000000 "
                                      '--preset S --prefill 128 --eval-episodes 1 --seed 0 '
                                      '--device cuda --out runs/clip-video/0 | '
                                      'runs/clip-video/0/log.h5 agent_log True 1000000 []',
                                      'evaluate clip-video 0 | evaluate runs/clip-video/0 '
                                      '--episodes 1 --seed 0 --device cuda --out '
                                      'evals/clip-video-0.h5 | evals/clip-video-0.h5 eval False '
                                      'None []',
                                      'train-agent roboclip 0 | train-agent --task bin-picking-v3 '
                                      '--reward-mode dense --reward roboclip --s3d-model /m/s3d '
                                      '--steps 1000000 --preset S --prefill 128 --eval-episodes 1 '
                                      '--seed 0 --device cuda --out runs/roboclip/0 | '
                                      'runs/roboclip/0/log.h5 agent_log True 1000000 []',
                                      'evaluate roboclip 0 | evaluate runs/roboclip/0 --episodes '
                                      '1 --seed 0 --device cuda --out evals/roboclip-0.h5 | '
                                      'evals/roboclip-0.h5 eval False None []',
                                      'train-agent tadpole 0 | train-agent --task bin-picking-v3 '
                                      '--reward-mode dense --reward tadpole --tadpole-model /m/sd '
                                      '--steps 1000000 --preset S --prefill 128 --eval-episodes 1 '
                                      '--seed 0 --device cuda --out runs/tadpole/0 | '
                                      'runs/tadpole/0/log.h5 agent_log True 1000000 []',
                                      'evaluate tadpole 0 | evaluate runs/tadpole/0 --episodes 1 '
                                      '--seed 0 --device cuda --out evals/tadpole-0.h5 | '
                                      'evals/tadpole-0.h5 eval False None []',
                                      'train-agent diffusion-reward 0 | train-agent --task '
                                      'bin-picking-v3 --reward-mode dense --reward '
                                      'diffusion-reward --diffusion-reward-model dr_model --steps '
                                      '1000000 --preset S --prefill 128 --eval-episodes 1 --seed '
                                      '0 --device cuda --out runs/diffusion-reward/0 | '
                                      'runs/diffusion-reward/0/log.h5 agent_log True 1000000 []',
                                      'evaluate diffusion-reward 0 | evaluate '
                                      'runs/diffusion-reward/0 --episodes 1 --seed 0 --device '
                                      'cuda --out evals/diffusion-reward-0.h5 | '
                                      'evals/diffusion-reward-0.h5 eval False None []'],
 'tiny models, cuts, videos': ['collect expert | collect --task reach-v3 --reward-mode dense '
                               '--policy expert --episodes 2 --workers 2 --seed 0 --out expert.h5 '
                               '| expert.h5 episodes False None []',
                               'finetune | finetune --videos /m/bridge.h5 --model /m/cogvideox '
                               '--steps 3 --lr 1e-3 --frames 9 --seed 0 --device auto --out '
                               'video_model | video_model/finetune_log.h5 finetune_log True 3 '
                               '[]',
                               'generate | generate --task reach-v3 --model video_model --steps 4 '
                               '--frames 9 --seed 0 --device auto --out goal_video.h5 --mp4 '
                               'goal_video.mp4 | goal_video.h5 goal_video False None '
                               "['goal_video.mp4']",
                               'select-frame | select-frame goal_video.h5 --clip-model ViT-B-32 '
                               "--clip-pretrained '' --device auto --out goal_frame.h5 --plot "
                               'goal_frame_scores.png | goal_frame.h5 goal_frame False None '
                               "['goal_frame_scores.png']",
                               'encode-goal | encode-goal goal_video.h5 goal_frame.h5 '
                               '--image-encoder /m/dinov3 --seed 0 --device auto --out goal.h5 | '
                               'goal.h5 goal False None []',
                               'collect random | collect --task reach-v3 --reward-mode dense '
                               '--policy random --episodes 2 --workers 2 --seed 1 --out random.h5 '
                               '| random.h5 episodes False None []',
                               'train-fb | train-fb expert.h5 random.h5 goal.h5 --steps 200 '
                               '--z-dim 64 --hidden-dim 128 --batch-size 256 --seed 0 --device '
                               'auto --out fb.h5 | fb.h5 fb True None []',
                               'train-agent | train-agent --task reach-v3 --reward-mode dense '
                               '--reward genreward --goal goal.h5 --fb fb.h5 --steps 2048 '
                               '--preset tiny --train-ratio 64 --prefill 128 --eval-every 512 '
                               '--eval-episodes 1 --seed 0 --device auto --out agent | '
                               'agent/log.h5 agent_log True 2048 []',
                               'evaluate | evaluate agent --episodes 1 --seed 0 --device auto '
                               '--out eval.h5 --video rollouts.mp4 | eval.h5 eval False None '
                               "['rollouts.mp4']"],
 'paper video model': ['collect expert | collect --task pick-out-of-hole-v3 --reward-mode dense '
                       '--policy expert --episodes 20 --workers 2 --seed 0 --out expert.h5 | '
                       'expert.h5 episodes False None []',
                       'generate | generate --task pick-out-of-hole-v3 --model /m/vm --seed 0 '
                       '--device auto --out goal_video.h5 --mp4 goal_video.mp4 | goal_video.h5 '
                       "goal_video False None ['goal_video.mp4']",
                       'select-frame | select-frame goal_video.h5 --device auto --out '
                       'goal_frame.h5 --plot goal_frame_scores.png | goal_frame.h5 goal_frame '
                       "False None ['goal_frame_scores.png']",
                       'encode-goal | encode-goal goal_video.h5 goal_frame.h5 --seed 0 --device '
                       'auto --out goal.h5 | goal.h5 goal False None []',
                       'collect random | collect --task pick-out-of-hole-v3 --reward-mode dense '
                       '--policy random --episodes 20 --workers 2 --seed 1 --out random.h5 | '
                       'random.h5 episodes False None []',
                       'train-fb | train-fb expert.h5 random.h5 goal.h5 --seed 0 --device auto '
                       '--out fb.h5 | fb.h5 fb True None []',
                       'train-agent genreward 0 | train-agent --task pick-out-of-hole-v3 '
                       '--reward-mode dense --reward genreward --goal goal.h5 --fb fb.h5 --steps '
                       '1000000 --preset S --reward-interval 64 --fb-train-steps 100000 --seed 0 '
                       '--device auto --out runs/genreward/0 | runs/genreward/0/log.h5 agent_log '
                       'True 1000000 []',
                       'evaluate genreward 0 | evaluate runs/genreward/0 --episodes 10 --seed 0 '
                       '--device auto --out evals/genreward-0.h5 | evals/genreward-0.h5 eval '
                       'False None []',
                       'train-agent env 0 | train-agent --task pick-out-of-hole-v3 --reward-mode '
                       'dense --reward env --steps 1000000 --preset S --seed 0 --device auto '
                       '--out runs/env/0 | runs/env/0/log.h5 agent_log True 1000000 []',
                       'evaluate env 0 | evaluate runs/env/0 --episodes 10 --seed 0 --device auto '
                       '--out evals/env-0.h5 | evals/env-0.h5 eval False None []'],
 'tiny video model, clip pretrained': ['collect expert | collect --task reach-v3 --reward-mode '
                                       'dense --policy expert --episodes 4 --workers 2 --seed 0 '
                                       '--out expert.h5 | expert.h5 episodes False None []',
                                       'generate | generate --task reach-v3 --model org/model '
                                       '--seed 0 --device auto --out goal_video.h5 --mp4 '
                                       'goal_video.mp4 | goal_video.h5 goal_video False None '
                                       "['goal_video.mp4']",
                                       'select-frame | select-frame goal_video.h5 --clip-model '
                                       "tiny --clip-pretrained '' --device auto --out "
                                       'goal_frame.h5 --plot goal_frame_scores.png | '
                                       'goal_frame.h5 goal_frame False None '
                                       "['goal_frame_scores.png']",
                                       'encode-goal | encode-goal goal_video.h5 goal_frame.h5 '
                                       '--image-encoder tiny --seed 0 --device auto --out goal.h5 '
                                       '| goal.h5 goal False None []',
                                       'collect random | collect --task reach-v3 --reward-mode '
                                       'dense --policy random --episodes 4 --workers 2 --seed 1 '
                                       '--out random.h5 | random.h5 episodes False None []',
                                       'train-fb | train-fb expert.h5 random.h5 goal.h5 --steps '
                                       '300 --z-dim 64 --hidden-dim 128 --batch-size 256 --seed 0 '
                                       '--device auto --out fb.h5 | fb.h5 fb True None []',
                                       'train-agent | train-agent --task reach-v3 --reward-mode '
                                       'dense --reward genreward --goal goal.h5 --fb fb.h5 '
                                       '--steps 2048 --preset tiny --train-ratio 64 --prefill 256 '
                                       '--eval-every 512 --eval-episodes 5 --seed 0 --device auto '
                                       '--out agent | agent/log.h5 agent_log True 2048 []',
                                       'evaluate | evaluate agent --episodes 5 --seed 0 --device '
                                       'auto --out eval.h5 --video rollouts.mp4 | eval.h5 eval '
                                       "False None ['rollouts.mp4']"],
 'tiny diffusion-reward': ['collect expert | collect --task reach-v3 --reward-mode dense --policy '
                           'expert --episodes 7 --workers 2 --seed 0 --out expert.h5 | expert.h5 '
                           'episodes False None []',
                           'train-video-model | train-video-model expert.h5 --kind vqdiffusion '
                           '--preset tiny --codec-steps 50 --steps 50 --batch-size 8 --seed 0 '
                           '--device auto --out dr_model | dr_model/diffusion_reward.json model '
                           'directory False None []',
                           'train-agent diffusion-reward 0 | train-agent --task reach-v3 '
                           '--reward-mode dense --reward diffusion-reward '
                           '--diffusion-reward-model dr_model --diffusion-reward-rnd-batch 16 '
                           '--steps 2048 --preset tiny --train-ratio 64 --prefill 256 '
                           '--eval-every 512 --eval-episodes 5 --seed 0 --device auto --out '
                           'runs/diffusion-reward/0 | runs/diffusion-reward/0/log.h5 agent_log '
                           'True 2048 []',
                           'evaluate diffusion-reward 0 | evaluate runs/diffusion-reward/0 '
                           '--episodes 5 --seed 0 --device auto --out evals/diffusion-reward-0.h5 '
                           '| evals/diffusion-reward-0.h5 eval False None []'],
 'paper diffusion-reward, clip baselines': ['collect expert | collect --task disassemble-v3 '
                                            '--reward-mode dense --policy expert --episodes 20 '
                                            '--workers 2 --seed 0 --out expert.h5 | expert.h5 '
                                            'episodes False None []',
                                            'train-video-model | train-video-model expert.h5 '
                                            '--kind vqdiffusion --seed 0 --device auto --out '
                                            'dr_model | dr_model/diffusion_reward.json model '
                                            'directory False None []',
                                            'train-agent diffusion-reward 0 | train-agent --task '
                                            'disassemble-v3 --reward-mode dense --reward '
                                            'diffusion-reward --diffusion-reward-model dr_model '
                                            '--steps 1000000 --preset S --seed 0 --device auto '
                                            '--out runs/diffusion-reward/0 | '
                                            'runs/diffusion-reward/0/log.h5 agent_log True '
                                            '1000000 []',
                                            'evaluate diffusion-reward 0 | evaluate '
                                            'runs/diffusion-reward/0 --episodes 10 --seed 0 '
                                            '--device auto --out evals/diffusion-reward-0.h5 | '
                                            'evals/diffusion-reward-0.h5 eval False None []',
                                            'train-agent vlm-rm 0 | train-agent --task '
                                            'disassemble-v3 --reward-mode dense --reward vlm-rm '
                                            '--clip-pretrained openai --steps 1000000 --preset S '
                                            '--seed 0 --device auto --out runs/vlm-rm/0 | '
                                            'runs/vlm-rm/0/log.h5 agent_log True 1000000 []',
                                            'evaluate vlm-rm 0 | evaluate runs/vlm-rm/0 '
                                            '--episodes 10 --seed 0 --device auto --out '
                                            'evals/vlm-rm-0.h5 | evals/vlm-rm-0.h5 eval False '
                                            'None []',
                                            'train-agent clip-video 0 | train-agent --task '
                                            'disassemble-v3 --reward-mode dense --reward '
                                            'clip-video --clip-pretrained openai --steps 1000000 '
                                            '--preset S --seed 0 --device auto --out '
                                            'runs/clip-video/0 | runs/clip-video/0/log.h5 '
                                            'agent_log True 1000000 []',
                                            'evaluate clip-video 0 | evaluate runs/clip-video/0 '
                                            '--episodes 10 --seed 0 --device auto --out '
                                            'evals/clip-video-0.h5 | evals/clip-video-0.h5 eval '
                                            'False None []'],
 'paper cut prefill and eval': ['collect expert | collect --task reach-v3 --reward-mode dense '
                                '--policy expert --episodes 20 --workers 2 --seed 0 --out '
                                'expert.h5 | expert.h5 episodes False None []',
                                'finetune | finetune --videos expert.h5 --frames 17 --seed 0 '
                                '--device auto --out video_model | video_model/finetune_log.h5 '
                                'finetune_log True 1000 []',
                                'generate | generate --task reach-v3 --model video_model --frames '
                                '17 --seed 0 --device auto --out goal_video.h5 --mp4 '
                                'goal_video.mp4 | goal_video.h5 goal_video False None '
                                "['goal_video.mp4']",
                                'select-frame | select-frame goal_video.h5 --device auto --out '
                                'goal_frame.h5 --plot goal_frame_scores.png | goal_frame.h5 '
                                "goal_frame False None ['goal_frame_scores.png']",
                                'encode-goal | encode-goal goal_video.h5 goal_frame.h5 --seed 0 '
                                '--device auto --out goal.h5 | goal.h5 goal False None []',
                                'collect random | collect --task reach-v3 --reward-mode dense '
                                '--policy random --episodes 20 --workers 2 --seed 1 --out '
                                'random.h5 | random.h5 episodes False None []',
                                'train-fb | train-fb expert.h5 random.h5 goal.h5 --seed 0 '
                                '--device auto --out fb.h5 | fb.h5 fb True None []',
                                'train-agent | train-agent --task reach-v3 --reward-mode dense '
                                '--reward genreward --goal goal.h5 --fb fb.h5 --steps 1000000 '
                                '--preset S --fb-train-steps 100000 --prefill 64 --eval-episodes '
                                '2 --seed 0 --device auto --out agent | agent/log.h5 agent_log '
                                'True 1000000 []',
                                'evaluate | evaluate agent --episodes 2 --seed 0 --device auto '
                                '--out eval.h5 --video rollouts.mp4 | eval.h5 eval False None '
                                "['rollouts.mp4']"]}
CLI_PLANS = {'defaults': ['collect expert | collect --task pick-place-v3 --reward-mode dense --policy expert '
              '--episodes 4 --workers 2 --seed 0 --out expert.h5 | expert.h5 episodes False None '
              '[]',
              'finetune | finetune --videos expert.h5 --model tiny --steps 50 --lr 1e-3 --seed 0 '
              '--device auto --out video_model | video_model/finetune_log.h5 finetune_log True '
              '50 []',
              'generate | generate --task pick-place-v3 --model video_model --seed 0 --device '
              'auto --out goal_video.h5 --mp4 goal_video.mp4 | goal_video.h5 goal_video False '
              "None ['goal_video.mp4']",
              'select-frame | select-frame goal_video.h5 --clip-model tiny --device auto --out '
              'goal_frame.h5 --plot goal_frame_scores.png | goal_frame.h5 goal_frame False None '
              "['goal_frame_scores.png']",
              'encode-goal | encode-goal goal_video.h5 goal_frame.h5 --image-encoder tiny --seed '
              '0 --device auto --out goal.h5 | goal.h5 goal False None []',
              'collect random | collect --task pick-place-v3 --reward-mode dense --policy random '
              '--episodes 4 --workers 2 --seed 1 --out random.h5 | random.h5 episodes False None '
              '[]',
              'train-fb | train-fb expert.h5 random.h5 goal.h5 --steps 300 --z-dim 64 '
              '--hidden-dim 128 --batch-size 256 --seed 0 --device auto --out fb.h5 | fb.h5 fb '
              'True None []',
              'train-agent | train-agent --task pick-place-v3 --reward-mode dense --reward '
              'genreward --goal goal.h5 --fb fb.h5 --steps 2048 --preset tiny --train-ratio 64 '
              '--prefill 256 --eval-every 512 --eval-episodes 5 --seed 0 --device auto --out '
              'agent | agent/log.h5 agent_log True 2048 []',
              'evaluate | evaluate agent --episodes 5 --seed 0 --device auto --out eval.h5 '
              "--video rollouts.mp4 | eval.h5 eval False None ['rollouts.mp4']"],
 'paper smoke': ['collect expert | collect --task pick-place-v3 --reward-mode dense --policy '
                 'expert --episodes 2 --workers 2 --seed 0 --out expert.h5 | expert.h5 episodes '
                 'False None []',
                 'finetune | finetune --videos expert.h5 --model /m/cogvideox --steps 2 --seed 0 '
                 '--device cuda --out video_model | video_model/finetune_log.h5 finetune_log True '
                 '2 []',
                 'generate | generate --task pick-place-v3 --model video_model --steps 4 --seed 0 '
                 '--device cuda --out goal_video.h5 --mp4 goal_video.mp4 | goal_video.h5 '
                 "goal_video False None ['goal_video.mp4']",
                 "select-frame | select-frame goal_video.h5 --clip-pretrained '' --device cuda "
                 '--out goal_frame.h5 --plot goal_frame_scores.png | goal_frame.h5 goal_frame '
                 "False None ['goal_frame_scores.png']",
                 'encode-goal | encode-goal goal_video.h5 goal_frame.h5 --image-encoder /m/dinov3 '
                 '--seed 0 --device cuda --out goal.h5 | goal.h5 goal False None []',
                 'collect random | collect --task pick-place-v3 --reward-mode dense --policy '
                 'random --episodes 2 --workers 2 --seed 1 --out random.h5 | random.h5 episodes '
                 'False None []',
                 'train-fb | train-fb expert.h5 random.h5 goal.h5 --steps 200 --seed 0 --device '
                 'cuda --out fb.h5 | fb.h5 fb True None []',
                 'train-agent | train-agent --task pick-place-v3 --reward-mode dense --reward '
                 'genreward --goal goal.h5 --fb fb.h5 --steps 512 --preset S --fb-train-steps '
                 '100000 --prefill 256 --eval-episodes 1 --seed 0 --device cuda --out agent | '
                 'agent/log.h5 agent_log True 512 []',
                 'evaluate | evaluate agent --episodes 1 --seed 0 --device cuda --out eval.h5 '
                 "--video rollouts.mp4 | eval.h5 eval False None ['rollouts.mp4']"],
 'paper fig5': ['collect expert | collect --task bin-picking-v3 --reward-mode sparse --policy '
                'expert --episodes 20 --workers 2 --seed 0 --out expert.h5 | expert.h5 episodes '
                'False None []',
                'finetune | finetune --videos expert.h5 --seed 0 --device auto --out video_model '
                '| video_model/finetune_log.h5 finetune_log True 1000 []',
                'generate | generate --task bin-picking-v3 --model video_model --seed 0 --device '
                'auto --out goal_video.h5 --mp4 goal_video.mp4 | goal_video.h5 goal_video False '
                "None ['goal_video.mp4']",
                'select-frame | select-frame goal_video.h5 --device auto --out goal_frame.h5 '
                '--plot goal_frame_scores.png | goal_frame.h5 goal_frame False None '
                "['goal_frame_scores.png']",
                'encode-goal | encode-goal goal_video.h5 goal_frame.h5 --seed 0 --device auto '
                '--out goal.h5 | goal.h5 goal False None []',
                'collect random | collect --task bin-picking-v3 --reward-mode sparse --policy '
                'random --episodes 20 --workers 2 --seed 1 --out random.h5 | random.h5 episodes '
                'False None []',
                'train-fb | train-fb expert.h5 random.h5 goal.h5 --seed 0 --device auto --out '
                'fb.h5 | fb.h5 fb True None []',
                'train-agent genreward 0 | train-agent --task bin-picking-v3 --reward-mode sparse '
                '--reward genreward --goal goal.h5 --fb fb.h5 --steps 1000000 --preset S '
                '--reward-interval 64 --fb-train-steps 100000 --seed 0 --device auto --out '
                'runs/genreward/0 | runs/genreward/0/log.h5 agent_log True 1000000 []',
                'evaluate genreward 0 | evaluate runs/genreward/0 --episodes 10 --seed 0 --device '
                'auto --out evals/genreward-0.h5 | evals/genreward-0.h5 eval False None []',
                'train-agent genreward 1 | train-agent --task bin-picking-v3 --reward-mode sparse '
                '--reward genreward --goal goal.h5 --fb fb.h5 --steps 1000000 --preset S '
                '--reward-interval 64 --fb-train-steps 100000 --seed 1 --device auto --out '
                'runs/genreward/1 | runs/genreward/1/log.h5 agent_log True 1000000 []',
                'evaluate genreward 1 | evaluate runs/genreward/1 --episodes 10 --seed 1 --device '
                'auto --out evals/genreward-1.h5 | evals/genreward-1.h5 eval False None []',
                'train-agent genreward 2 | train-agent --task bin-picking-v3 --reward-mode sparse '
                '--reward genreward --goal goal.h5 --fb fb.h5 --steps 1000000 --preset S '
                '--reward-interval 64 --fb-train-steps 100000 --seed 2 --device auto --out '
                'runs/genreward/2 | runs/genreward/2/log.h5 agent_log True 1000000 []',
                'evaluate genreward 2 | evaluate runs/genreward/2 --episodes 10 --seed 2 --device '
                'auto --out evals/genreward-2.h5 | evals/genreward-2.h5 eval False None []',
                'train-agent env 0 | train-agent --task bin-picking-v3 --reward-mode sparse '
                '--reward env --steps 1000000 --preset S --seed 0 --device auto --out runs/env/0 '
                '| runs/env/0/log.h5 agent_log True 1000000 []',
                'evaluate env 0 | evaluate runs/env/0 --episodes 10 --seed 0 --device auto --out '
                'evals/env-0.h5 | evals/env-0.h5 eval False None []',
                'train-agent env 1 | train-agent --task bin-picking-v3 --reward-mode sparse '
                '--reward env --steps 1000000 --preset S --seed 1 --device auto --out runs/env/1 '
                '| runs/env/1/log.h5 agent_log True 1000000 []',
                'evaluate env 1 | evaluate runs/env/1 --episodes 10 --seed 1 --device auto --out '
                'evals/env-1.h5 | evals/env-1.h5 eval False None []',
                'train-agent env 2 | train-agent --task bin-picking-v3 --reward-mode sparse '
                '--reward env --steps 1000000 --preset S --seed 2 --device auto --out runs/env/2 '
                '| runs/env/2/log.h5 agent_log True 1000000 []',
                'evaluate env 2 | evaluate runs/env/2 --episodes 10 --seed 2 --device auto --out '
                'evals/env-2.h5 | evals/env-2.h5 eval False None []',
                'train-agent roboclip 0 | train-agent --task bin-picking-v3 --reward-mode sparse '
                '--reward roboclip --s3d-model /m/s3d --steps 1000000 --preset S --seed 0 '
                '--device auto --out runs/roboclip/0 | runs/roboclip/0/log.h5 agent_log True '
                '1000000 []',
                'evaluate roboclip 0 | evaluate runs/roboclip/0 --episodes 10 --seed 0 --device '
                'auto --out evals/roboclip-0.h5 | evals/roboclip-0.h5 eval False None []',
                'train-agent roboclip 1 | train-agent --task bin-picking-v3 --reward-mode sparse '
                '--reward roboclip --s3d-model /m/s3d --steps 1000000 --preset S --seed 1 '
                '--device auto --out runs/roboclip/1 | runs/roboclip/1/log.h5 agent_log True '
                '1000000 []',
                'evaluate roboclip 1 | evaluate runs/roboclip/1 --episodes 10 --seed 1 --device '
                'auto --out evals/roboclip-1.h5 | evals/roboclip-1.h5 eval False None []',
                'train-agent roboclip 2 | train-agent --task bin-picking-v3 --reward-mode sparse '
                '--reward roboclip --s3d-model /m/s3d --steps 1000000 --preset S --seed 2 '
                '--device auto --out runs/roboclip/2 | runs/roboclip/2/log.h5 agent_log True '
                '1000000 []',
                'evaluate roboclip 2 | evaluate runs/roboclip/2 --episodes 10 --seed 2 --device '
                'auto --out evals/roboclip-2.h5 | evals/roboclip-2.h5 eval False None []',
                'train-agent tadpole 0 | train-agent --task bin-picking-v3 --reward-mode sparse '
                '--reward tadpole --tadpole-model stabilityai/stable-diffusion-2-1-base --steps '
                '1000000 --preset S --seed 0 --device auto --out runs/tadpole/0 | '
                'runs/tadpole/0/log.h5 agent_log True 1000000 []',
                'evaluate tadpole 0 | evaluate runs/tadpole/0 --episodes 10 --seed 0 --device '
                'auto --out evals/tadpole-0.h5 | evals/tadpole-0.h5 eval False None []',
                'train-agent tadpole 1 | train-agent --task bin-picking-v3 --reward-mode sparse '
                '--reward tadpole --tadpole-model stabilityai/stable-diffusion-2-1-base --steps '
                '1000000 --preset S --seed 1 --device auto --out runs/tadpole/1 | '
                'runs/tadpole/1/log.h5 agent_log True 1000000 []',
                'evaluate tadpole 1 | evaluate runs/tadpole/1 --episodes 10 --seed 1 --device '
                'auto --out evals/tadpole-1.h5 | evals/tadpole-1.h5 eval False None []',
                'train-agent tadpole 2 | train-agent --task bin-picking-v3 --reward-mode sparse '
                '--reward tadpole --tadpole-model stabilityai/stable-diffusion-2-1-base --steps '
                '1000000 --preset S --seed 2 --device auto --out runs/tadpole/2 | '
                'runs/tadpole/2/log.h5 agent_log True 1000000 []',
                'evaluate tadpole 2 | evaluate runs/tadpole/2 --episodes 10 --seed 2 --device '
                'auto --out evals/tadpole-2.h5 | evals/tadpole-2.h5 eval False None []'],
 'tiny baselines': ['collect expert | collect --task pick-place-v3 --reward-mode dense --policy '
                    'expert --episodes 4 --workers 2 --seed 5 --out expert.h5 | expert.h5 '
                    'episodes False None []',
                    'train-video-model | train-video-model expert.h5 --kind vqdiffusion --preset '
                    'tiny --codec-steps 50 --steps 50 --batch-size 8 --seed 5 --device auto --out '
                    'dr_model | dr_model/diffusion_reward.json model directory False None []',
                    'train-agent env 5 | train-agent --task pick-place-v3 --reward-mode dense '
                    '--reward env --steps 2048 --preset tiny --train-ratio 64 --prefill 256 '
                    '--eval-every 512 --eval-episodes 5 --seed 5 --device auto --out runs/env/5 | '
                    'runs/env/5/log.h5 agent_log True 2048 []',
                    'evaluate env 5 | evaluate runs/env/5 --episodes 5 --seed 5 --device auto '
                    '--out evals/env-5.h5 | evals/env-5.h5 eval False None []',
                    'train-agent diffusion-reward 5 | train-agent --task pick-place-v3 '
                    '--reward-mode dense --reward diffusion-reward --diffusion-reward-model '
                    'dr_model --diffusion-reward-rnd-batch 16 --steps 2048 --preset tiny '
                    '--train-ratio 64 --prefill 256 --eval-every 512 --eval-episodes 5 --seed 5 '
                    '--device auto --out runs/diffusion-reward/5 | runs/diffusion-reward/5/log.h5 '
                    'agent_log True 2048 []',
                    'evaluate diffusion-reward 5 | evaluate runs/diffusion-reward/5 --episodes 5 '
                    '--seed 5 --device auto --out evals/diffusion-reward-5.h5 | '
                    'evals/diffusion-reward-5.h5 eval False None []',
                    'train-agent vlm-rm 5 | train-agent --task pick-place-v3 --reward-mode dense '
                    '--reward vlm-rm --clip-model ViT-B-32 --steps 2048 --preset tiny '
                    '--train-ratio 64 --prefill 256 --eval-every 512 --eval-episodes 5 --seed 5 '
                    '--device auto --out runs/vlm-rm/5 | runs/vlm-rm/5/log.h5 agent_log True 2048 '
                    '[]',
                    'evaluate vlm-rm 5 | evaluate runs/vlm-rm/5 --episodes 5 --seed 5 --device '
                    'auto --out evals/vlm-rm-5.h5 | evals/vlm-rm-5.h5 eval False None []'],
 'paper video model': ['collect expert | collect --task pick-place-v3 --reward-mode dense '
                       '--policy expert --episodes 20 --workers 2 --seed 0 --out expert.h5 | '
                       'expert.h5 episodes False None []',
                       'generate | generate --task pick-place-v3 --model org/cogvideox-bridge '
                       '--seed 0 --device auto --out goal_video.h5 --mp4 goal_video.mp4 | '
                       "goal_video.h5 goal_video False None ['goal_video.mp4']",
                       'select-frame | select-frame goal_video.h5 --clip-model ViT-L-14 --device '
                       'auto --out goal_frame.h5 --plot goal_frame_scores.png | goal_frame.h5 '
                       "goal_frame False None ['goal_frame_scores.png']",
                       'encode-goal | encode-goal goal_video.h5 goal_frame.h5 --seed 0 --device '
                       'auto --out goal.h5 | goal.h5 goal False None []',
                       'collect random | collect --task pick-place-v3 --reward-mode dense '
                       '--policy random --episodes 20 --workers 2 --seed 1 --out random.h5 | '
                       'random.h5 episodes False None []',
                       'train-fb | train-fb expert.h5 random.h5 goal.h5 --seed 0 --device auto '
                       '--out fb.h5 | fb.h5 fb True None []',
                       'train-agent | train-agent --task pick-place-v3 --reward-mode dense '
                       '--reward genreward --goal goal.h5 --fb fb.h5 --steps 1000000 --preset S '
                       '--fb-train-steps 100000 --seed 0 --device auto --out agent | agent/log.h5 '
                       'agent_log True 1000000 []',
                       'evaluate | evaluate agent --episodes 10 --seed 0 --device auto --out '
                       "eval.h5 --video rollouts.mp4 | eval.h5 eval False None ['rollouts.mp4']"],
 'tiny videos': ['collect expert | collect --task pick-place-v3 --reward-mode dense --policy '
                 'expert --episodes 4 --workers 2 --seed 0 --out expert.h5 | expert.h5 episodes '
                 'False None []',
                 'finetune | finetune --videos /m/bridge.h5 --model tiny --steps 50 --lr 1e-3 '
                 '--seed 0 --device auto --out video_model | video_model/finetune_log.h5 '
                 'finetune_log True 50 []',
                 'generate | generate --task pick-place-v3 --model video_model --seed 0 --device '
                 'auto --out goal_video.h5 --mp4 goal_video.mp4 | goal_video.h5 goal_video False '
                 "None ['goal_video.mp4']",
                 'select-frame | select-frame goal_video.h5 --clip-model tiny --device auto --out '
                 'goal_frame.h5 --plot goal_frame_scores.png | goal_frame.h5 goal_frame False '
                 "None ['goal_frame_scores.png']",
                 'encode-goal | encode-goal goal_video.h5 goal_frame.h5 --image-encoder /m/dinov3 '
                 '--seed 0 --device auto --out goal.h5 | goal.h5 goal False None []',
                 'collect random | collect --task pick-place-v3 --reward-mode dense --policy '
                 'random --episodes 4 --workers 2 --seed 1 --out random.h5 | random.h5 episodes '
                 'False None []',
                 'train-fb | train-fb expert.h5 random.h5 goal.h5 --steps 300 --z-dim 64 '
                 '--hidden-dim 128 --batch-size 256 --seed 0 --device auto --out fb.h5 | fb.h5 fb '
                 'True None []',
                 'train-agent | train-agent --task pick-place-v3 --reward-mode dense --reward '
                 'genreward --goal goal.h5 --fb fb.h5 --steps 100 --preset tiny --train-ratio 64 '
                 '--prefill 256 --eval-every 512 --eval-episodes 5 --seed 0 --device auto --out '
                 'agent | agent/log.h5 agent_log True 100 []',
                 'evaluate | evaluate agent --episodes 5 --seed 0 --device auto --out eval.h5 '
                 "--video rollouts.mp4 | eval.h5 eval False None ['rollouts.mp4']"]}


def test_a_forced_dry_run_plans_every_stage_to_run_again(monkeypatch, tmp_path):
    """--dry-run --force shows what --force runs: every stage, with --force, even where the
    stage is up to date (its plan without --force)."""
    import json

    monkeypatch.setattr(pipeline, "plan_status",
                        lambda plan, root: [("done", "up to date")] * len(plan))
    for force, action in (([], "done"), (["--force"], "run")):
        r = CliRunner().invoke(cli, ["pipeline", "--out", str(tmp_path / "p"), "--dry-run",
                                     "--json", *force])
        assert r.exit_code == 0, r.stderr
        stages = json.loads(r.stdout)["stages"][:-1]  # the closing compare always runs
        assert {s["action"] for s in stages} == {action}, force
        if force:
            assert all(s["why"] == "--force" and s["command"].endswith(" --force")
                       for s in stages)
        else:
            assert all(s["command"] is None for s in stages)
