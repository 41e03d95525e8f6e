"""The `generate` stage: a goal video from a prompt, conditioned on a first frame (an image or
a task's initial observation: image-to-video, the paper's setting) or not (text-to-video), as
a `goal_video` artifact (paper section 3.1)."""

from __future__ import annotations

import os
import time
import warnings

from genreward_cli import config as cfg
from genreward_cli import media, store
from genreward_cli.errors import BadInput
from genreward_cli.progress import progress_bar, quoted
from genreward_cli.stages import Report
from genreward_cli.video.generate import GenerateConfig
from genreward_cli.video.model import DEFAULT_MODEL, DEFAULT_T2V_MODEL

DTYPES = ("auto", "float32", "bfloat16", "float16")  # `auto`: bfloat16 on a GPU, else float32


def read_image(path: str | os.PathLike) -> "np.ndarray":
    """The condition image ``path`` as uint8 [H, W, 3] RGB, as an image viewer shows it: its
    EXIF orientation applied (a phone's photo is stored sideways), a palette, CMYK or
    grayscale image converted (grayscale and 16-bit ones with a warning), an alpha channel
    dropped when every pixel is opaque (a screenshot's).

    Raises:
        BadInput: not an image Pillow reads (a renamed file, a truncated download), or
            transparent pixels (there is no background to put behind them)."""
    import numpy as np
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im = ImageOps.exif_transpose(im)  # a copy, loaded
            im.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise BadInput(f"--image {path}: not a readable image ({' '.join(str(e).split())})") \
            from None
    mode = im.mode
    if "A" in mode or (mode == "P" and "transparency" in im.info):
        if np.asarray(im.convert("RGBA"))[..., 3].min() < 255:
            raise BadInput(f"--image {path}: has transparent pixels; give an RGB image (or "
                           "flatten it onto a background)")
    if mode.startswith("I;16") or mode in ("I", "F"):  # 16-bit (or wider) grayscale
        values = np.asarray(im, dtype=np.float64)
        top = 65535.0 if mode.startswith("I;16") else max(float(values.max()), 1.0)
        gray = np.clip(np.round(values / top * 255.0), 0, 255).astype(np.uint8)
        warnings.warn(f"--image {path}: a {mode} grayscale image, scaled to 8 bits and used "
                      "as RGB")
        return np.repeat(gray[..., None], 3, axis=-1)
    if mode in ("L", "LA", "1"):
        warnings.warn(f"--image {path}: a grayscale image, used as RGB")
    return np.asarray(im.convert("RGB"))


def run(gen: GenerateConfig, *, out: str | os.PathLike, prompt: str | None = None,
        image: str | None = None, task: str | None = None, camera: str = "corner",
        model: str | None = None, t2v_model: str | None = None, dtype: str = "auto",
        cpu_offload: bool = False, vae_tiling: bool = False, vae_slicing: bool = False,
        mp4: str | None = None, seed: int = 0, device: str = "cpu",
        force: bool = False) -> Report:
    """Generate a goal video with ``gen``'s sampler settings into the `goal_video` artifact
    ``out`` (frames u8 [F,H,W,3], condition_image u8 [H,W,3]; attrs model, mode, prompt,
    prompt_seen), and into ``mp4`` (.mp4 or .gif) when given.

    With ``image`` (a png/jpg path) or ``task`` (its initial frame for env seed ``seed``, seen
    by ``camera``): image-to-video with ``model``. With ``prompt`` alone: text-to-video with
    ``model`` when that is a text-to-video model, else with ``t2v_model``. ``model`` and
    ``t2v_model`` are hub ids, local diffusers directories or presets; None stands for the
    default (DEFAULT_MODEL, DEFAULT_T2V_MODEL), as not named by the user: a default ``model``
    that cannot be read is passed over for text-to-video. ``dtype`` is one of DTYPES,
    ``device`` a torch device string (``cuda`` or ``cpu``, already resolved).

    Raises BadInput (exit code 2) for a missing prompt, both ``image`` and ``task``, a model
    that cannot take the request (checked on its configs, before any weights are loaded), a
    size it cannot generate, an unreadable or RGBA image, ``cpu_offload`` without a GPU, or an
    existing ``out`` / ``mp4`` without ``force``.
    """
    import numpy as np
    import torch

    from genreward_cli.video.generate import (
        check_condition, generate_video, resolve_size, seen_text, truncation_warning,
        unknown_warning,
    )
    from genreward_cli.video.model import (
        IMAGE_TO_VIDEO, PRESETS, TEXT_TO_VIDEO, fingerprint, load_pipeline, load_tokenizer,
        model_name, read_info, resolve,
    )

    model_named, t2v_model_named = model is not None, t2v_model is not None
    model = DEFAULT_MODEL if model is None else model
    t2v_model = DEFAULT_T2V_MODEL if t2v_model is None else t2v_model
    if image is not None and task is not None:
        raise BadInput("give at most one of --image and --task (neither: text-to-video from --prompt)")
    # given but empty (`--prompt "$P"` with P unset) is a mistake, also with --task
    if prompt is not None and not any(c.isprintable() and not c.isspace() for c in prompt):
        raise BadInput(("--prompt: empty" if not prompt else
                        "--prompt: only blanks or invisible characters")
                       + "; describe the goal (e.g. --prompt \"pick up the blue fork\")"
                       + ("; leave it out for the task's description" if task else ""))
    if task is not None:
        from genreward_cli.envs.tasks import describe

        prompt = prompt or describe(task)
    if not prompt:
        raise BadInput("--prompt is required with --image" if image is not None else
                       "--prompt is required (alone: text-to-video; with --image or --task: "
                       "image-to-video)")
    if image is not None:
        media.check_image_path(image)
        from pathlib import Path

        if not Path(image).is_file():
            raise BadInput(f"--image {image}: no such file")
    inputs = [image, model, t2v_model]
    store.check_distinct_outputs(out=out, mp4=mp4)
    store.check_output(out, force, inputs)
    if mp4:
        store.check_output(media.check_video_path(mp4), force, inputs)
    if cpu_offload and device != "cuda":
        raise BadInput("--cpu-offload keeps sub-models on the CPU between GPU calls; it needs a GPU")
    torch_dtype = {
        "auto": torch.bfloat16 if device == "cuda" else torch.float32,
        "float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16,
    }[dtype]

    # Which model in which mode, and whether it can take this request: configs only, no weights.
    if image is not None or task is not None:
        mode, name, option = IMAGE_TO_VIDEO, model, "--model"
        info = read_info(name, option)
        if info.mode != IMAGE_TO_VIDEO:
            raise BadInput(f"--model {model}: a text-to-video model; it takes no --image or "
                           "--task (drop them, or give an image-to-video model)")
    else:
        mode = TEXT_TO_VIDEO
        own = None
        if model_named:  # the default --model is image-to-video: not worth a look-up
            own = read_info(model, "--model")
        if own is not None and own.mode == TEXT_TO_VIDEO:
            name, option, info = model, "--model", own
        else:
            name, option = model_name(t2v_model, TEXT_TO_VIDEO), "--t2v-model"
            try:
                info = read_info(name, option)
            except BadInput as e:
                if model in PRESETS and not t2v_model_named:
                    raise BadInput(f"{e} (text-to-video from --prompt alone uses --t2v-model; "
                                   "`--t2v-model tiny` is the built-in preset)") from None
                raise
            info.require_mode(TEXT_TO_VIDEO, f"--t2v-model {t2v_model}")
    frames, height, width = resolve_size(gen, info)
    tiling = info.tiling(height, width) if vae_tiling else None
    if tiling and tiling["tile_sample_min_height"] >= height and tiling["tile_sample_min_width"] >= width:
        warnings.warn(f"--vae-tiling: no tile smaller than {height}x{width} lies on this VAE's "
                      f"{info.spatial_scale}-pixel latent grid; frames are encoded and decoded whole")
    tokenizer = load_tokenizer(name, option)
    seen = {"prompt": seen_text(tokenizer, prompt, info.text_length)}
    if gen.negative_prompt:
        seen["negative_prompt"] = seen_text(tokenizer, gen.negative_prompt, info.text_length)
    for key, text in seen.items():
        if text.truncated:
            warnings.warn(truncation_warning("--" + key.replace("_", "-"), text, f"{key}_seen"))
        if text.unknown:
            warnings.warn(unknown_warning("--" + key.replace("_", "-"), text, f"{key}_seen"))

    extra = {}
    condition = None
    if task is not None:
        from genreward_cli.envs import EnvConfig
        from genreward_cli.envs.metaworld_env import initial_frame

        condition = initial_frame(EnvConfig(task=task, size=height, width=width, camera=camera), seed)
        extra = {"task": task}
    elif image is not None:
        condition = read_image(image)
        check_condition(condition, height, width)

    pipe = load_pipeline(name, device="cpu" if cpu_offload else device, dtype=torch_dtype,
                         mode=mode, option=option)
    trained = pipe.scheduler.config.get("num_train_timesteps")
    if trained is not None and gen.steps > trained:  # the scheduler's ValueError otherwise
        raise BadInput(f"--steps {gen.steps}: the model's scheduler was trained with {trained} "
                       f"timesteps; denoise in at most {trained} steps")
    if cpu_offload:
        pipe.enable_model_cpu_offload()
    if tiling:
        pipe.vae.enable_tiling(**tiling)
    if vae_slicing:
        pipe.vae.enable_slicing()

    start = time.perf_counter()
    with progress_bar(gen.steps, "generate") as advance:
        video = generate_video(pipe, condition, prompt, gen, seed, on_step=advance)
    elapsed = time.perf_counter() - start
    if condition is None:
        condition = video[0]  # text-to-video: the first generated frame stands for the condition

    # local paths are recorded absolute: later stages find them from any directory
    recorded_model = name if name in PRESETS else store.record_path(name)
    config = cfg.to_json(gen, prompt=prompt, image=store.record_path(image), task=task,
                         camera=camera, model=store.record_path(model),
                         t2v_model=store.record_path(t2v_model), mode=mode,
                         model_used=recorded_model,
                         dtype=dtype, device=device, seed=seed, cpu_offload=cpu_offload,
                         vae_tiling=vae_tiling, vae_tiles=tiling, vae_slicing=vae_slicing,
                         frames_resolved=frames, height_resolved=height, width_resolved=width,
                         scheduler=type(pipe.scheduler).__name__)
    with store.write_artifact(out, "goal_video", config=config, force=force) as h5:
        store.frames_dataset(h5, "frames", video)
        store.array_dataset(h5, "condition_image", condition)
        h5.attrs.update(prompt=prompt, prompt_seen=seen["prompt"].seen,
                        prompt_truncated=seen["prompt"].truncated, mode=mode,
                        model=recorded_model, model_revision=fingerprint(resolve(name, option)),
                        fps=gen.fps, seed=seed, **extra)
        if "negative_prompt" in seen:
            h5.attrs["negative_prompt_seen"] = seen["negative_prompt"].seen
    if mp4:
        media.write_video(mp4, video, fps=gen.fps)
    summary = {"out": str(out), "mode": mode, "model": recorded_model, "frames": frames,
               "height": height, "width": width, "prompt": prompt, "seconds": elapsed,
               "s_per_step": elapsed / gen.steps}
    line = (f"wrote {out}: {frames} frames {height}x{width} ({mode}, {recorded_model}) for "
            f"{quoted(prompt)} in {elapsed:.1f} s ({elapsed / gen.steps:.2f} s/step)")
    return Report(line, summary)
