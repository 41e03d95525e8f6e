"""Peak memory and time of reading one long clip for `import-videos`: the streamed reader
(`stages.import_videos.read_clip`: one pass counts frames, a second decodes and resizes the
frames kept) against decoding the whole clip and resampling it (`video.clips.resample`).

    .venv/bin/python bench/import_videos.py                  # 600 frames of 720x1280
    .venv/bin/python bench/import_videos.py --frames 300 --height 1080 --width 1920

Each reader runs in a fresh process (peak resident memory, ru_maxrss, is per process); the
clip is random noise, encoded once with ffmpeg (libx264) into a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
import numpy as np
path, way, count, h, w = Path(sys.argv[1]), sys.argv[2], *map(int, sys.argv[3:])
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
if way == "streamed":
    from genreward_cli.stages.import_videos import read_clip
    frames = read_clip(path, count, h, w).frames
else:
    import imageio.v3 as iio
    from genreward_cli.video.clips import resample
    frames = resample(np.asarray(iio.imread(path, index=None)), count, h, w)
elapsed = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"s": elapsed, "peak_mib": peak / 1024, "added_mib": (peak - before) / 1024,
                  "shape": list(frames.shape)}))
"""


def main() -> None:
    from genreward_cli import machine

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=600, help="source clip length")
    p.add_argument("--height", type=int, default=720)
    p.add_argument("--width", type=int, default=1280)
    p.add_argument("--keep", type=int, default=49, help="frames kept (import-videos --frames)")
    args = p.parse_args()
    import imageio
    import numpy as np

    print(machine.describe())
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "clip.mp4"
        rng = np.random.default_rng(0)
        with imageio.get_writer(path, fps=30, codec="libx264", macro_block_size=8) as writer:
            for _ in range(args.frames):
                writer.append_data(rng.integers(0, 255, (args.height, args.width, 3), np.uint8))
        print(f"source: {args.frames} frames {args.height}x{args.width} "
              f"({args.frames * args.height * args.width * 3 / 2**20:.0f} MiB decoded), "
              f"kept: {args.keep} frames 480x720")
        rows = {}
        for way in ("whole", "streamed"):
            out = subprocess.run([sys.executable, "-c", CHILD, str(path), way, str(args.keep),
                                  "480", "720"], check=True, capture_output=True, text=True)
            rows[way] = json.loads(out.stdout.strip().splitlines()[-1])
            r = rows[way]
            print(f"{way:9s} {r['s']:6.1f} s  peak {r['peak_mib']:7.0f} MiB "
                  f"(+{r['added_mib']:.0f} MiB while reading)  {r['shape']}")
        streamed, whole = rows["streamed"], rows["whole"]
        print(f"streamed / whole: peak memory {streamed['peak_mib'] / whole['peak_mib']:.2f}x, "
              f"time {streamed['s'] / whole['s']:.2f}x")


if __name__ == "__main__":
    main()
