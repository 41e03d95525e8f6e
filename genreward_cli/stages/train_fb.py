"""The `train-fb` stage: forward-backward representations learned on the transitions of
recorded episodes, in the goal's image-embedding state space, as an `fb` artifact; resumable
through its checkpoint ``OUT.ckpt.pt``."""

from __future__ import annotations

import dataclasses
import json
import os
import time
import warnings
from pathlib import Path
from typing import Sequence

from genreward_cli import config as cfg
from genreward_cli import store
from genreward_cli.errors import BadInput
from genreward_cli.fb.model import FBConfig
from genreward_cli.fb.trainer import FBTrainConfig
from genreward_cli.progress import counted, progress_bar
from genreward_cli.stages import Report

METRICS = ("loss", "fb", "ortho", "actor")  # per update, under metrics/ with metrics/step
# what every checkpoint has held (later ones add train_config, seed and parents)
CHECKPOINT_KEYS = ("trainer", "history", "fb_config", "embeddings", "actions")


def checkpoint_path(out: str | os.PathLike) -> Path:
    """The resumable checkpoint of the `fb` artifact ``out``: ``OUT.ckpt.pt``."""
    out = Path(out)
    return out.with_name(out.name + ".ckpt.pt")


# FBConfig fields that are not options of their own: set by the data and the image encoder
DERIVED_FIELDS = {"obs_dim": "the image encoder's embedding size",
                  "action_dim": "the episodes' action size"}


def fb_config_changes(old: dict, new: dict) -> str:
    """The FBConfig fields that differ between a checkpoint's (``old``) and this run's
    (``new``), as ``check_resume`` says them: ``z_dim=16 (now 32)``, or ``obs_dim=384 (now
    768: the image encoder's embedding size)`` for a field the data sets."""
    parts = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if a != b:
            why = f": {DERIVED_FIELDS[key]}" if key in DERIVED_FIELDS else ""
            parts.append(f"{key}={a!r} (now {b!r}{why})")
    return "; ".join(parts)


def check_resume(out: Path, state: dict, parents: list[dict], train_config: FBTrainConfig,
                 seed: int) -> None:
    """Refuse to continue the checkpoint ``state`` of ``out`` with other inputs (compared by
    content, sha256: moved files are the same inputs), another training configuration or
    another seed: the run would go on from the old data's cached embeddings while ``out``
    recorded the new inputs and options as its provenance. ``--steps``, ``--checkpoint-every``
    and ``--device`` may change. Checkpoints written before these were saved are not
    checked.

    Raises:
        BadInput: one line naming each difference."""
    changed = []
    if "train_config" in state:
        old = {**state["train_config"], "seed": state["seed"]}
        new = {**train_config.__dict__, "seed": seed}
        changed = [f"{k}={old[k]!r} (now {new.get(k)!r})" for k in old if old[k] != new.get(k)]
    if "parents" in state and (sorted(p["sha256"] for p in state["parents"])
                               != sorted(p["sha256"] for p in parents)):
        was = {p["path"]: p["sha256"] for p in state["parents"]}
        if set(was) == {p["path"] for p in parents}:  # the same files, rewritten since
            changed.append("inputs changed since: " + ", ".join(
                p["path"] for p in parents if was[p["path"]] != p["sha256"]))
        else:
            changed.append("inputs " + ", ".join(was) + " (now "
                           + ", ".join(p["path"] for p in parents) + ")")
    if changed:
        raise BadInput(f"--resume: {out} was trained with other options: {'; '.join(changed)}; "
                       "give its inputs and options to continue it, or --force to start over")


def run(inputs: Sequence[str | os.PathLike], *, out: str | os.PathLike,
        fb_config: FBConfig = FBConfig(), train_config: FBTrainConfig = FBTrainConfig(),
        steps: int = 100_000, checkpoint_every: int = 10_000, resume: bool = False,
        seed: int = 0, device: str = "cpu", force: bool = False) -> Report:
    """Train F and B for ``steps`` updates on the transitions of the `episodes` files among
    ``inputs``, every frame embedded once by the image encoder of the one `goal` file among
    them, and write the `fb` artifact ``out`` (weights/<module>/<param>, metrics/<name>,
    goal_embedding, goal_z, cache/embeddings; attrs fb_config, train_config, image_encoder,
    frame_size). ``goal_embedding`` is psi(I*) of the goal frame seen as the training frames
    are (``goal.image_encoder.fb_goal_embedding``: centre-cropped to their aspect ratio). ``fb_config``'s obs_dim and action_dim are ignored: they are the data's.

    ``OUT.ckpt.pt`` (trainer, history, embeddings) is written every ``checkpoint_every``
    updates and at the end; ``resume`` continues from it without embedding again. ``device``
    is a torch device string (already resolved).

    Raises BadInput (exit code 2) unless ``inputs`` hold one or more `episodes` files and
    exactly one `goal` file; for frames of different sizes, embeddings whose size is not the
    goal's, ``resume`` without a checkpoint or with one of another FB configuration, and an
    existing ``out`` or checkpoint without ``force`` or ``resume``.
    """
    import numpy as np
    import torch

    from genreward_cli.fb.data import Sampler, Transitions, embed_episodes
    from genreward_cli.fb.io import write_weights
    from genreward_cli.fb.model import FBModel
    from genreward_cli.fb.trainer import FBTrainer
    from genreward_cli.goal.image_encoder import (ImageEncoder, ImageEncoderConfig,
                                                  fb_goal_embedding)

    out = Path(out)
    ckpt_path = checkpoint_path(out)
    store.check_not_input(out, inputs)
    if resume:
        if not ckpt_path.exists():
            raise BadInput(f"--resume: no checkpoint {ckpt_path}")
    else:
        store.check_output(out, force, inputs)
        if ckpt_path.exists() and not force:  # an interrupted run's: a rerun would replace it
            raise BadInput(f"{ckpt_path}: a train-fb checkpoint (of an interrupted run, or of "
                           f"a finished one whose {out.name} is gone); pass --resume to go on "
                           "from it or --force to start over")
    episode_files, goal_files = [], []
    for path in inputs:
        art = store.open_artifact(path, ("episodes", "goal"))
        (goal_files if art.kind.name == "goal" else episode_files).append(art)
    try:
        if len(goal_files) != 1 or not episode_files:
            raise BadInput(f"give one or more `episodes` files and exactly one `goal` file "
                           f"(got {counted(len(episode_files), '`episodes` file')} and "
                           f"{counted(len(goal_files), '`goal` file')})")
        goal = goal_files[0]
        goal_task = store.text(goal.attrs["task"]) if "task" in goal.attrs else None
        others = [f"{a.path} ({store.text(a.attrs['task'])})" for a in episode_files
                  if goal_task is not None and store.text(a.attrs["task"]) != goal_task]
        if others:  # scenes of another task: states the reward never meets
            warnings.warn(f"episodes of another task than the goal's ({goal_task}): "
                          f"{', '.join(others)}; the FB model learns the successor measure "
                          "of the scenes its episodes show", stacklevel=2)
        sizes = {a.file[f"episodes/{k}/image"].shape[1:3] for a in episode_files for k in a.groups()}
        if len(sizes) != 1:
            raise BadInput(f"episodes have frames of different sizes: {sorted(sizes)}")
        frame_size = [int(x) for x in sizes.pop()]
        image_config = goal.attrs.parsed("image_encoder", ImageEncoderConfig.from_json)
        image_config = dataclasses.replace(
            image_config, model=goal.resolve(image_config.model, "its image encoder"))
        encoder = ImageEncoder(image_config, device=device)
        # psi(I*) seen as the states are: the goal frame cropped to their aspect ratio
        goal_embedding = fb_goal_embedding(encoder, goal.file["frame"][()], frame_size)
        parents = [a.ref() for a in episode_files + goal_files]
        if resume:
            state = store.read_checkpoint(ckpt_path, "start over with --force",
                                          keys=CHECKPOINT_KEYS, what="train-fb",
                                          weights_only=False)
            data = Transitions.build(state["embeddings"], state["actions"])
        else:
            state = None
            n_eps = sum(len(a.groups()) for a in episode_files)
            with progress_bar(n_eps, "embed frames") as advance:
                data = embed_episodes(episode_files, encoder, on_episode=advance)
    finally:
        for art in episode_files + goal_files:
            art.close()
    if len(data) == 0:
        raise BadInput(f"{', '.join(str(p) for p in inputs)}: no transitions to train on "
                       "(every episode has 0 steps)")
    obs_dim = data.embeddings[0].shape[1]
    if obs_dim != goal_embedding.shape[0]:
        raise BadInput(f"frame embeddings have {obs_dim} dims, the goal {goal_embedding.shape[0]}")
    fb_config = dataclasses.replace(fb_config, obs_dim=obs_dim,
                                    action_dim=data.actions[0].shape[1])
    if state is not None and state["fb_config"] != fb_config.__dict__:
        raise BadInput(f"--resume: {out} was trained with other options: "
                       + fb_config_changes(state["fb_config"], fb_config.__dict__)
                       + "; give its inputs and options to continue it, or --force to start "
                       "over")
    if state is not None:
        check_resume(out, state, parents, train_config, seed)
    torch.manual_seed(seed)
    model = FBModel(fb_config).to(device)
    trainer = FBTrainer(model, train_config, seed=seed)
    history: dict[str, list] = {"step": [], **{k: [] for k in METRICS}}
    if state is not None:
        trainer.load_state_dict(state["trainer"])
        history = state["history"]
        if trainer.step >= steps:
            warnings.warn(f"--resume: {ckpt_path} is at {counted(trainer.step, 'update')} "
                          f"and --steps is {steps}: nothing to train; {out} is written from the "
                          "checkpoint (a larger --steps trains on)")
    sampler = Sampler(data, device, trainer.generator)
    goal_t = torch.from_numpy(goal_embedding).to(device)

    def save_checkpoint():
        with store.replacing(ckpt_path) as tmp:  # removed if interrupted
            torch.save({"trainer": trainer.state_dict(), "history": history,
                        "fb_config": fb_config.__dict__, "embeddings": data.embeddings,
                        "actions": data.actions, "train_config": train_config.__dict__,
                        "seed": seed, "parents": parents}, tmp)

    start_step, start = trainer.step, time.perf_counter()
    saved_step = trainer.step if state is not None else None  # the checkpoint's update
    try:
        with progress_bar(steps, f"train-fb ({train_config.objective})") as advance:
            advance(min(trainer.step, steps))
            while trainer.step < steps:
                m = trainer.update(sampler(train_config.batch_size), goal_embedding=goal_t)
                history["step"].append(trainer.step)
                for k in METRICS:
                    history[k].append(m.get(k, 0.0))
                advance(1)
                if trainer.step % checkpoint_every == 0:
                    save_checkpoint()
                    saved_step = trainer.step
        elapsed = time.perf_counter() - start
        save_checkpoint()
    except KeyboardInterrupt as e:  # Ctrl-C or SIGTERM: say where the checkpoint stands
        if saved_step is not None:
            e.note = f"{ckpt_path} stays at update {saved_step}: rerun with --resume to continue"
        raise

    with torch.no_grad():
        goal_z = model.goal_z(goal_t.view(1, -1))[0].cpu().numpy()
    run_config = cfg.to_json(fb_config, train_config, steps=steps, seed=seed, device=device,
                             inputs=[store.record_path(p) for p in inputs])
    with store.write_artifact(out, "fb", config=run_config, parents=parents,
                              force=force or resume) as h5:
        write_weights(h5, model)
        store.array_dataset(h5, "metrics/step", np.asarray(history["step"], np.int64))
        for k in METRICS:
            store.array_dataset(h5, f"metrics/{k}", np.asarray(history[k], np.float32))
        store.array_dataset(h5, "goal_embedding", goal_embedding.astype(np.float32))
        store.array_dataset(h5, "goal_z", goal_z.astype(np.float32))
        for k, e in enumerate(data.embeddings):
            store.array_dataset(h5, f"cache/embeddings/{k:06d}", e)
        h5.attrs.update(fb_config=json.dumps(fb_config.__dict__),
                        train_config=json.dumps(train_config.__dict__),
                        image_encoder=image_config.to_json(),
                        frame_size=json.dumps(frame_size))
    trained = trainer.step - start_step
    summary = {"out": str(out), "seed": seed, "steps": trainer.step, "transitions": len(data),
               "final_loss": float(np.mean(history["loss"][-100:])),
               "updates_per_s": trained / elapsed if trained else None}
    line = (f"wrote {out}: {train_config.objective} FB, {counted(trainer.step, 'update')} on "
            f"{len(data)} transitions, final loss {summary['final_loss']:.3f} "
            f"(mean of the last {min(100, len(history['loss']))})")
    return Report(line, summary)
