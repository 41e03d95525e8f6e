"""Artifacts damaged by hand or by another tool: a missing or garbled attribute, weights of
the wrong shape or with NaN, a missing group. Each is refused with exit code 2 and one line
that names the file and what is wrong in it, and no output is left behind."""

from __future__ import annotations

import shutil

import h5py
import numpy as np
import pytest
import torch

from helpers import fake_episode, refused, run, write_episodes

from genreward_cli import store
from genreward_cli.agent.config import AgentConfig
from genreward_cli.errors import BadInput
from genreward_cli.fb.model import FBConfig


def damaged(tiny_chain, tmp_path, name, damage):
    """A copy of ``tiny_chain``'s file ``name`` after ``damage(h5py.File opened r+)``."""
    copy = tmp_path / f"bad_{name}"
    shutil.copy(tiny_chain / name, copy)
    with h5py.File(copy, "r+") as f:
        damage(f)
    return copy


def score(tiny_chain, tmp_path, goal=None, fb=None):
    out = tmp_path / "score.h5"
    return out, run("score-reward", tiny_chain / "expert.h5", "--goal", goal or tiny_chain / "goal.h5",
                    "--fb", fb or tiny_chain / "fb.h5", "--reward-interval", 10, "--out", out)


def first_weight(f, module="backward_net"):
    return f"weights/{module}/" + sorted(f[f"weights/{module}"])[0]


def test_missing_attribute_names_file_and_attribute(tiny_chain, tmp_path):
    goal = damaged(tiny_chain, tmp_path, "goal.h5", lambda f: f.attrs.__delitem__("image_encoder"))
    out = tmp_path / "fb.h5"
    r = run("train-fb", tiny_chain / "expert.h5", goal, "--steps", 2, "--z-dim", 8,
            "--hidden-dim", 8, "--out", out)
    refused(r, str(goal), "missing attribute 'image_encoder'", out=out)


def test_fb_weights_that_do_not_fit_are_refused(tiny_chain, tmp_path):
    def cut(f):
        name = first_weight(f)
        data = f[name][()]
        del f[name]
        f.create_dataset(name, data=data[..., :-1])

    fb = damaged(tiny_chain, tmp_path, "fb.h5", cut)
    out, r = score(tiny_chain, tmp_path, fb=fb)
    refused(r, str(fb), "do not fit a BackwardNet", "size mismatch", out=out)


def test_fb_weights_with_nan_blame_the_fb_file(tiny_chain, tmp_path):
    def poison(f):
        ds = f[first_weight(f)]
        data = ds[()]
        data.flat[0] = np.nan
        ds[...] = data

    fb = damaged(tiny_chain, tmp_path, "fb.h5", poison)
    out, r = score(tiny_chain, tmp_path, fb=fb)
    refused(r, str(fb), "holds NaN or inf", "weights/backward_net/", out=out)


@pytest.mark.parametrize("damage,message", [
    (lambda f: f.attrs.__setitem__("fb_config", "{not json"),
     "attribute 'fb_config' on '/' is not valid JSON"),
    (lambda f: f.attrs.__setitem__("fb_config", '{"z_dim": "big"}'),
     "attribute 'fb_config': z_dim: expected int"),
    (lambda f: f.__delitem__("weights"), "missing 'weights"),
    # ZeroDivisionError or an interpolation's RuntimeError, exit 1, before
    (lambda f: f.attrs.__setitem__("frame_size", "[0, 0]"),
     "attribute 'frame_size' on '/' is not [height, width] in pixels: got [0, 0]"),
    (lambda f: f.attrs.__setitem__("frame_size", '"big"'), "is not [height, width] in pixels"),
    (lambda f: (f.__delitem__("goal_z"), f.create_dataset("goal_z", data=np.zeros(5, "f4"))),
     "goal_z has shape [5], fb_config's z_dim is 16"),
])
def test_garbled_fb_file_is_refused(tiny_chain, tmp_path, damage, message):
    fb = damaged(tiny_chain, tmp_path, "fb.h5", damage)
    out, r = score(tiny_chain, tmp_path, fb=fb)
    refused(r, str(fb), message, out=out)


def _set_encoder_field(f, key, value):
    import json

    config = json.loads(f.attrs["video_encoder"])
    f.attrs["video_encoder"] = json.dumps({**config, key: value})


def _cut_latent(f):
    latent = f["video_latent"][()]
    del f["video_latent"]
    f.create_dataset("video_latent", data=latent[:2])


@pytest.mark.parametrize("damage,message", [
    # "video has no frames" and "cannot sample -5 frames", naming no file, before
    (lambda f: _set_encoder_field(f, "frames", 0),
     "attribute 'video_encoder' on '/' cannot be read: ValueError: frames = 0, not a positive"),
    (lambda f: _set_encoder_field(f, "height", -5), "height = -5, not a positive integer"),
    # "latent shapes differ: [4, ...] vs [2, ...]"
    (_cut_latent, "video_latent is [2, "),
])
def test_a_goal_whose_video_settings_do_not_fit_is_named(tiny_chain, tmp_path, damage, message):
    goal = damaged(tiny_chain, tmp_path, "goal.h5", damage)
    out, r = score(tiny_chain, tmp_path, goal=goal)
    refused(r, f"{goal}: ", message, out=out)


@pytest.mark.parametrize("attr,value,message", [
    ("schema_version", "one", "schema_version 'one' is not a number"),
    ("config", "{oops", "attribute 'config' on '/' is not valid JSON"),
    ("parents", "[", "attribute 'parents' on '/' is not valid JSON"),
    # JSON of another shape: TypeError, KeyError or AttributeError, exit 1, before
    ("config", "[1]", "attribute 'config' on '/' is not the JSON object of a stage's options: "
                      "an array"),
    ("parents", "[1, 2]", "attribute 'parents' on '/' is not the JSON list of {path, kind, "
                          "sha256} entries an artifact records: entry 1"),
    ("parents", '[{"x": 1}]', 'records: entry {"x": 1}'),
    ("parents", "null", "records: null"),
    ("versions", '"2.14"', "attribute 'versions' on '/' is not the JSON object of package "
                           "versions: a string"),
])
def test_garbled_root_attribute_is_refused_on_open(tiny_chain, tmp_path, attr, value, message):
    """Every stage reads artifacts through ``open_artifact``: `inspect` as well as the one
    that consumes the file."""
    bad = damaged(tiny_chain, tmp_path, "gf.h5", lambda f: f.attrs.__setitem__(attr, value))
    refused(run("inspect", bad), str(bad), message)
    out = tmp_path / "goal.h5"
    r = run("encode-goal", tiny_chain / "expert.h5", bad, "--vae", "tiny", "--image-encoder",
            "tiny", "--out", out)
    refused(r, str(bad), message, out=out)


def test_missing_attribute_is_still_a_key_error_for_optional_reads(tmp_path):
    """``attrs.get`` and ``except KeyError`` keep working for optional attributes."""
    path = write_episodes(tmp_path / "e.h5", [fake_episode(np.random.default_rng(0))])
    with store.open_artifact(path, "episodes") as art:
        assert art.attrs.get("no_such_attribute", 7) == 7
        with pytest.raises(KeyError):
            art.attrs["no_such_attribute"]
        with pytest.raises(BadInput, match=r"e\.h5: missing attribute 'nope' on 'episodes/000000'"):
            art.file["episodes/000000"].attrs["nope"]
        with pytest.raises(BadInput, match=r"e\.h5: missing 'episodes/000009'"):
            art.file["episodes/000009"]
        assert art.file.get("episodes/000009") is None


def test_actions_outside_their_range_are_refused(tmp_path):
    def push(h5):
        h5["episodes/000000/action"][0, 0] = 1e30

    with pytest.raises(BadInput, match=r"dataset 'episodes/000000/action' has values in "
                                       r"\[.*1e\+30\], expected within \[-1, 1\]"):
        write_episodes(tmp_path / "e.h5", [fake_episode(np.random.default_rng(0))], mutate=push)


def test_load_weights_and_stored_config(tmp_path):
    """The helpers every weight and config read goes through: a round trip, then each
    refusal."""
    net = torch.nn.Linear(3, 2)
    with h5py.File(tmp_path / "w.h5", "w") as f:
        store.write_weights(f, "weights/net", net.state_dict())
        f.attrs["agent_config"] = '{"deter": "big"}'
        f.attrs["fb_config"] = '{"hidden_dim": 4}'
    twin = torch.nn.Linear(3, 2)
    with store.ReadFile(tmp_path / "w.h5", "r") as f:
        store.load_weights(twin, f["weights/net"])
        assert torch.equal(twin.weight, net.weight) and torch.equal(twin.bias, net.bias)
        with pytest.raises(BadInput, match=r"w\.h5: the weights in 'weights/net' do not fit a "
                                           r"Linear: size mismatch for weight"):
            store.load_weights(torch.nn.Linear(3, 5), f["weights/net"])

        class Art:
            path, attrs = tmp_path / "w.h5", f.attrs

        assert store.stored_config(Art, "fb_config", FBConfig).hidden_dim == 4
        with pytest.raises(BadInput, match=r"w\.h5: attribute 'agent_config': deter: expected "
                                           r"int, got str 'big'"):
            store.stored_config(Art, "agent_config", AgentConfig)


def test_episodes_of_zero_steps_are_refused_by_train_fb(tmp_path, tiny_chain):
    rng = np.random.default_rng(0)
    empty = {**fake_episode(rng, T=0, size=64)}
    path = write_episodes(tmp_path / "e.h5", [empty])
    out = tmp_path / "fb.h5"
    r = run("train-fb", path, tiny_chain / "goal.h5", "--steps", 2, "--z-dim", 8,
            "--hidden-dim", 8, "--out", out)
    refused(r, "no transitions to train on", out=out)


@pytest.mark.parametrize("command", [
    ("init-model", "--preset", "tiny"),
    ("train-video-model", "--preset", "tiny"),
    ("finetune", "--model", "tiny", "--steps", "1", "--videos"),
])
@pytest.mark.parametrize("layout", ["plain", "lookalike"])
def test_force_never_empties_a_folder_of_the_users(tmp_path, command, layout):
    """`--force` replaces an earlier output folder of the command, not any folder: not one of
    the user's own, even one holding a name that the command's outputs hold too (a project's
    `checkpoints/`, a `config.json`, a `diffusion_reward.json`)."""
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.txt").write_text("x")
    if layout == "lookalike":
        (mine / "checkpoints").mkdir()
        (mine / "checkpoints" / "epoch10.pt").write_text("c")
        (mine / "config.json").write_text("{}")
        (mine / "diffusion_reward.json").write_text("{}")
    args = list(command)
    if command[0] != "init-model":
        videos = str(write_episodes(tmp_path / "e.h5",
                                    [fake_episode(np.random.default_rng(0), T=4, size=64)]))
        args.insert(1 if command[0] == "train-video-model" else len(args), videos)
    r = run(*args, "--out", mine, "--force")
    refused(r, f"--out {mine}: --force replaces only an earlier output of this command")
    assert (mine / "thesis.txt").read_text() == "x"
    if layout == "lookalike":
        assert (mine / "checkpoints" / "epoch10.pt").read_text() == "c"


def test_what_force_may_replace(tmp_path):
    """The folders `--force` takes for earlier outputs: a saved model, a finetune's folder
    (finished or interrupted) and a Diffusion Reward model, each holding nothing else."""
    import json

    from genreward_cli.model_files import holds_only_model
    from genreward_cli.stages.finetune import finetune_folder
    from genreward_cli.stages.train_video_model import video_model_folder

    def folder(name, files):
        d = tmp_path / name
        for rel, text in files.items():
            (d / rel).parent.mkdir(parents=True, exist_ok=True)
            (d / rel).write_text(text)
        return d

    index = json.dumps({"_class_name": "CogVideoXImageToVideoPipeline",
                        "transformer": ["diffusers", "X"], "vae": ["diffusers", "Y"]})
    pipeline = {"model_index.json": index, "transformer/config.json": "{}",
                "vae/config.json": "{}"}
    single = {"config.json": json.dumps({"model_type": "dinov3_vit"}), "model.safetensors": ""}
    assert holds_only_model(folder("pipe", pipeline))
    assert holds_only_model(folder("single", single))
    assert not holds_only_model(folder("pipe_notes", {**pipeline, "notes.txt": "x"}))
    assert not holds_only_model(folder("pipe_data", {**pipeline, "data/d.csv": "x"}))
    assert not holds_only_model(folder("single_notes", {**single, "notes.txt": "x"}))
    assert not holds_only_model(folder("bare_config", {"config.json": "{}"}))
    assert not holds_only_model(folder("no_class", {"model_index.json": "{}",
                                                    "transformer/config.json": "{}"}))
    # a user's file inside a component, or a trainer's output folder, is not a saved model
    assert not holds_only_model(folder("pipe_deep", {**pipeline, "vae/notes.txt": "x"}))
    assert not holds_only_model(folder("pipe_deeper", {**pipeline, "vae/mine/a.csv": "x"}))
    assert not holds_only_model(folder("trainer", {**single, "eval_results.json": "{}",
                                                   "training_args.bin": ""}))
    done = {**pipeline, "checkpoints/step-0000050.pt": "", "finetune_log.h5": "",
            "lora/pytorch_lora_weights.safetensors": ""}
    assert finetune_folder(folder("ft_done", done))
    assert finetune_folder(folder("ft_stopped", {"checkpoints/step-0000010.pt": "",
                                                 "checkpoints/step-0000020.pt.tmp": ""}))
    assert finetune_folder(folder("ft_exporting", {**done, "finetune_log.h5.tmp": "",
                                                   **{f".export.tmp/{k}": v
                                                      for k, v in pipeline.items()}}))
    assert not finetune_folder(folder("ft_lora_notes", {**done, "lora/notes.json": ""}))
    assert not finetune_folder(folder("project", {"checkpoints/epoch10.pt": "",
                                                  "src/train.py": ""}))
    assert not finetune_folder(folder("ft_plus", {**done, "src/train.py": ""}))
    assert not finetune_folder(folder("lora_only", {"lora/notes.txt": ""}))
    dr = {"diffusion_reward.json": "{}", "unet/config.json": "{}",
          "scheduler/scheduler_config.json": "{}"}
    assert video_model_folder(folder("dr", dr))
    assert not video_model_folder(folder("dr_notes", {**dr, "notes.txt": ""}))
    assert not video_model_folder(folder("dr_deep", {**dr, "unet/mine/a.txt": ""}))
    assert not video_model_folder(folder("dr_list", {**dr, "diffusion_reward.json": "[]"}))
    # what the refusal names: the entries the command did not write, first
    from genreward_cli.model_files import foreign_entries
    from genreward_cli.stages.finetune import foreign_to_finetune
    from genreward_cli.stages.train_video_model import foreign_to_video_model

    assert foreign_entries(tmp_path / "pipe_notes") == ["notes.txt"]
    assert foreign_entries(tmp_path / "pipe") == []
    assert foreign_to_finetune(tmp_path / "ft_plus") == ["src"]
    assert foreign_to_finetune(tmp_path / "ft_lora_notes") == ["lora"]
    assert foreign_to_video_model(tmp_path / "dr_notes") == ["notes.txt"]
    assert foreign_to_video_model(tmp_path / "dr_deep") == ["unet"]
    from genreward_cli import store

    with pytest.raises(BadInput, match=r"this one also holds what it does not write: src: choose "
                                         r"another --out"):
        store.check_folder_output(tmp_path / "ft_plus", True, ("checkpoints",),
                                  owns=finetune_folder, foreign=foreign_to_finetune)


def test_force_replaces_an_earlier_model_folder(tmp_path):
    out = tmp_path / "model"
    for _ in range(2):
        r = run("init-model", "--preset", "tiny", "--out", out, "--force")
        assert r.exit_code == 0, r.stderr
    assert (out / "model_index.json").is_file()


@pytest.mark.parametrize("args,message", [
    (("collect", "--task", "reach-v3", "--seed", "-1"), "--seed"),
    (("collect", "--task", "reach-v3", "--size", "100000"), "--size: must be at most 4096"),
    (("pipeline", "--task", "reach-v3", "--seeds", "0,-1", "--dry-run"),
     "--seeds: -1 is not a seed"),
    (("encode-goal", "GOAL_VIDEO", "GOAL_FRAME", "--height", "100000"), "--height"),
    (("encode-goal", "GOAL_VIDEO", "GOAL_FRAME", "--vae", "tiny", "--image-encoder", "tiny",
      "--height", "1"), "frames of 1x64 (--height, --width): the VAE downsamples by "),
    (("train-fb", "EPISODES", "GOAL", "--hidden-dim", "2000000000"), "--hidden-dim: must be at most"),
    (("encode-goal", "GOAL_VIDEO", "GOAL_FRAME", "--vae", "no/such/dir/here"),
     "--vae no/such/dir/here: no such directory"),
])
def test_sizes_and_seeds_out_of_range_are_refused_up_front(tiny_chain, tmp_path, args, message):
    """A typo in a size or seed is one line and exit 2, not an allocation of terabytes, a GL
    error or numpy's seed error half-way through."""
    files = {"GOAL_VIDEO": tiny_chain / "expert.h5", "GOAL_FRAME": tiny_chain / "gf.h5",
             "EPISODES": tiny_chain / "expert.h5", "GOAL": tiny_chain / "goal.h5"}
    out = tmp_path / "out.h5"
    r = run(*(files.get(a, a) for a in args), "--out", out)
    refused(r, message, out=out)


def test_a_prompts_file_that_is_not_text_is_refused(tmp_path, tiny_chain):
    folder = tmp_path / "clips"
    folder.mkdir()
    (folder / "a.mp4").write_bytes(b"\x00")
    out = tmp_path / "v.h5"
    r = run("import-videos", folder, "--prompts", tiny_chain / "expert.h5", "--out", out)
    refused(r, str(tiny_chain / "expert.h5"), "not a UTF-8 CSV file", out=out)


def test_an_oracle_goal_takes_video_and_frame_from_one_episode(tiny_chain, tmp_path):
    """gf.h5 is a frame of expert episode 0: encoding it with episode 1's video is refused."""
    out = tmp_path / "goal.h5"
    r = run("encode-goal", tiny_chain / "expert.h5", tiny_chain / "gf.h5", "--episode", 1,
            "--vae", "tiny", "--image-encoder", "tiny", "--out", out)
    refused(r, "its frame comes from episode 0", "--episode 1: pass --episode 0", out=out)


@pytest.mark.parametrize("command", [
    ("init-model", "--preset", "tiny"),
    ("train-video-model", "--preset", "tiny", "VIDEOS"),
    ("finetune", "--model", "tiny", "--steps", "1", "--videos", "VIDEOS"),
    ("train-agent", "--task", "reach-v3", "--reward", "env", "--preset", "tiny", "--steps", "64"),
])
def test_an_output_folder_that_cannot_be_written_is_refused_up_front(tmp_path, command):
    """A folder output on a read-only mount (here /proc) is one line and exit 2 before any
    work, as a file output is; not an OSError after hours of training."""
    videos = str(write_episodes(tmp_path / "e.h5",
                                [fake_episode(np.random.default_rng(0), T=4, size=64)]))
    out = "/proc/genreward-none/out"
    r = run(*(videos if a == "VIDEOS" else a for a in command), "--out", out)
    refused(r, f"{out}: cannot be written in /proc")


def test_a_folder_being_written_is_not_written_by_a_second_command(tmp_path):
    """While one command writes an output folder, a second one with the same --out is one
    line and exit 2 (not a silent replacement); the lock file goes when the first ends."""
    from genreward_cli.errors import BadInput
    from genreward_cli.store import folder_lock

    out = tmp_path / "model"
    with folder_lock(out):
        assert (tmp_path / ".model.lock").is_file()
        with pytest.raises(BadInput, match="another process is writing it now"):
            with folder_lock(out):
                pass
        for args in (("init-model", "--preset", "tiny"),
                     ("train-agent", "--task", "reach-v3", "--reward", "env", "--steps", "64")):
            r = run(*args, "--out", out, "--force")
            refused(r, f"{out}: another process is writing it now", out=out)
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    r = run("init-model", "--preset", "tiny", "--out", out)
    assert r.exit_code == 0, r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_a_folder_whose_parents_do_not_exist_yet_is_locked_too(tmp_path):
    """A new sweep's `--out runs/TASK/METHOD/SEED` had no parent to hold `.SEED.lock`: the
    lock was skipped, and two commands with the same --out both wrote it (one's `--force`
    deleted the other's live run). The parents are made for the lock, and removed again
    when nothing was written in them."""
    from genreward_cli.store import folder_lock

    out = tmp_path / "runs" / "reach-v3" / "env" / "0"
    with folder_lock(out):
        assert (out.parent / ".0.lock").is_file()
        for args in (("init-model", "--preset", "tiny"),
                     ("train-agent", "--task", "reach-v3", "--reward", "env", "--steps", "64")):
            for force in ((), ("--force",)):
                r = run(*args, "--out", out, *force)
                refused(r, f"{out}: another process is writing it now", out=out)
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # the parents made are gone
    r = run("init-model", "--preset", "tiny", "--out", out)
    assert r.exit_code == 0, r.stderr
    assert sorted(p.name for p in out.parent.iterdir()) == ["0"]  # no lock file left


def test_the_model_cache_location_and_an_unwritable_one(tmp_path, tiny_chain, monkeypatch):
    """An empty GENREWARD_CACHE is the default (not the working folder); one that cannot be
    written is one line naming the variable, exit 2, before any model is built."""
    from genreward_cli.model_files import cache_dir

    monkeypatch.setenv("HOME", str(tmp_path))
    for value in ("", "  "):
        monkeypatch.setenv("GENREWARD_CACHE", value)
        assert cache_dir() == tmp_path / ".cache" / "genreward"
    monkeypatch.setenv("GENREWARD_CACHE", "~/models")
    assert cache_dir() == tmp_path / "models"
    (tmp_path / "afile").write_text("x")
    out = tmp_path / "gf.h5"
    for cache in ("/proc/genreward-none", str(tmp_path / "afile")):
        r = run("select-frame", tiny_chain / "expert.h5", "--clip-model", "tiny", "--out", out,
                env={"GENREWARD_CACHE": cache})
        refused(r, f"the model cache {cache}", "set GENREWARD_CACHE to a writable folder", out=out)


def test_out_dot_and_symbolic_links(tmp_path, monkeypatch):
    """`--out .` names the working folder (replaced with --force when it is an earlier
    output, a run written into it when empty); a symbolic link as a folder output to be
    replaced is refused, and a link shares its target's lock."""
    from genreward_cli.errors import BadInput
    from genreward_cli.store import folder_lock

    model = tmp_path / "m"
    assert run("init-model", "--preset", "tiny", "--out", model).exit_code == 0
    monkeypatch.chdir(model)
    r = run("init-model", "--preset", "tiny", "--out", ".", "--force")
    assert r.exit_code == 0, r.stderr
    assert (model / "model_index.json").is_file()
    (tmp_path / "run").mkdir()
    monkeypatch.chdir(tmp_path / "run")
    r = run("train-agent", "--task", "reach-v3", "--reward", "env", "--preset", "tiny",
            "--steps", "64", "--prefill", "32", "--eval-every", "0", "--out", ".")
    assert r.exit_code == 0, r.stderr
    assert (tmp_path / "run" / "config.json").is_file()
    monkeypatch.chdir(tmp_path)
    link = tmp_path / "mlink"
    link.symlink_to(model)
    refused(run("init-model", "--preset", "tiny", "--out", link, "--force"),
            f"--out {link}: a symbolic link")
    assert (model / "model_index.json").is_file()
    with folder_lock(model):
        with pytest.raises(BadInput, match="another process is writing it now"):
            with folder_lock(link):
                pass


@pytest.mark.parametrize("damage,message", [
    (lambda f: f.attrs.__delitem__("task"), "missing root attribute 'task'"),
    (lambda f: f.attrs.__setitem__("task", "nope-v9"),
     "root attribute task 'nope-v9' is no Meta-World v3 task"),
])
def test_episodes_without_a_known_task_are_refused_on_open(tiny_chain, tmp_path, damage,
                                                           message):
    """score-reward said "episodes of several tasks: ... (None)" for a file without its task,
    and a log naming no known task was evaluated until the env failed: refused on open."""
    bad = damaged(tiny_chain, tmp_path, "expert.h5", damage)
    refused(run("inspect", bad), str(bad), message)
    out = tmp_path / "s.h5"
    refused(run("score-reward", tiny_chain / "expert.h5", bad, "--reward", "env", "--out", out),
            str(bad), message, out=out)


def test_episodes_of_two_image_sizes_are_refused(tmp_path):
    """Each episode bound its own H and W, so a file with one episode at another size was
    accepted and a reward failed deep inside on the stacked frames: refused on open, naming
    the episode."""
    rng = np.random.default_rng(0)
    path = write_episodes(tmp_path / "ok.h5", [fake_episode(rng), fake_episode(rng)])
    assert store.open_artifact(path, "episodes").kind.name == "episodes"
    # the first episode sets the size: said, as it may be the one at another size
    with pytest.raises(BadInput, match=r"episodes/000001/image' has shape \[6, 12, 12, 3\], "
                                       r"expected \[T\+1,H,W,3\] with H = 8, as in "
                                       r"'episodes/000000'$"):
        write_episodes(tmp_path / "bad.h5", [fake_episode(rng), fake_episode(rng, size=12)])
    assert not (tmp_path / "bad.h5").exists()


def test_a_figure_being_written_is_not_written_by_a_second_command(tiny_chain, tmp_path):
    """Two sweep commands with one --plot both wrote it, the second silently replacing the
    first's figure: the side outputs are locked as --out is, and the second is refused."""
    from genreward_cli.store import output_lock

    plot = tmp_path / "figs" / "same.png"
    with output_lock(plot):
        for args in (("score-reward", tiny_chain / "expert.h5", "--reward", "env",
                      "--out", tmp_path / "s.h5", "--plot", plot),
                     ("evaluate", "--compare", tmp_path, "--plot", plot)):
            r = run(*args)
            refused(r, f"{plot}: another process is writing it now (.same.png.lock is locked); "
                       "wait for it to finish or write elsewhere")
            assert not (tmp_path / "s.h5").exists() and not plot.exists()
        # a lock on the figure is released when one on the output fails to be taken
        with output_lock(tmp_path / "s.h5"):
            with pytest.raises(BadInput, match="another process is writing it now"):
                with output_lock(tmp_path / "t.png", tmp_path / "s.h5"):
                    pass
            assert not (tmp_path / ".t.png.lock").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    r = run("score-reward", tiny_chain / "expert.h5", "--reward", "env", "--out",
            tmp_path / "s.h5", "--plot", plot)
    assert r.exit_code == 0, r.stderr
    assert plot.is_file() and not (plot.parent / ".same.png.lock").exists()
