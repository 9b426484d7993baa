"""Start-up cost: `reenact --help`, and a short warp run up to its first generated frame.

    python tools/bench_startup.py [--repeats 5]

Each measurement is a fresh interpreter (what a user pays per command). The run's start-up is
everything before the first output frame exists: imports, config, planning, face detection on the
source and the driving clip, tracking, alignment and the warp set-up. The driving clip is 10 frames
of the bundled astronaut portrait, written once into a temporary folder; the track cache is off.
Set PYTHONPATH to a checkout to measure that checkout's code (the children run outside it).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Runs in the child: times the interpreter from its first line to the first frame the generator yields.
_FIRST_FRAME = r"""
import time, sys
t0 = time.perf_counter()
import reenact.cli as cli
from reenact.generate import warp
original = warp.WarpGenerator.frames
def frames(self, *a, **k):
    for i, frame in enumerate(original(self, *a, **k)):
        if i == 0:
            print(f"FIRST_FRAME {time.perf_counter() - t0:.4f}", file=sys.stderr, flush=True)
        yield frame
warp.WarpGenerator.frames = frames
sys.exit(cli.main(sys.argv[1:]))
"""


def _clip(folder: Path) -> tuple[Path, Path]:
    import numpy as np
    from skimage import data

    from reenact.io.images import write_image
    from reenact.io.writer import open_writer

    source = folder / "source.png"
    write_image(source, data.astronaut())
    clip = folder / "drive.mp4"
    image = data.astronaut()
    with open_writer(clip, 25.0) as write:
        for i in range(10):
            write(np.roll(image, i, axis=1))
    return source, clip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    exe = sys.executable
    helps, firsts = [], []
    # children run in a scratch folder: the working folder would come first on their sys.path
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeats):
            t = time.perf_counter()
            subprocess.run([exe, "-m", "reenact", "--help"], check=True, capture_output=True, cwd=tmp)
            helps.append(time.perf_counter() - t)
        source, clip = _clip(Path(tmp))
        for i in range(args.repeats):
            out = Path(tmp) / f"out{i}.mp4"
            t = time.perf_counter()
            proc = subprocess.run([exe, "-c", _FIRST_FRAME, "-s", str(source), "-d", str(clip), "-o", str(out),
                                   "--engine", "warp", "--no-cache", "-q"], capture_output=True, text=True, cwd=tmp)
            wall = time.perf_counter() - t
            line = [ln for ln in proc.stderr.splitlines() if ln.startswith("FIRST_FRAME")]
            if proc.returncode or not line:
                print(proc.stderr, file=sys.stderr)
                return 1
            firsts.append(float(line[0].split()[1]))
            print(f"run {i}: first frame after {firsts[-1]:.2f} s, whole 10-frame run {wall:.2f} s")
    print(f"reenact --help: median {statistics.median(helps):.2f} s over {len(helps)}")
    print(f"10-frame warp run, start-up to first frame: median {statistics.median(firsts):.2f} s over {len(firsts)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
