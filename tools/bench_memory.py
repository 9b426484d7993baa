"""Peak memory (RSS) of reenact's long-clip paths against clip length.

Makes driving clips of the given lengths by looping a shared clip (written once to --workdir,
outside the repository), then runs each command in a fresh process and reads its peak resident
set size from the kernel (wait4's ru_maxrss). Prints a table and the growth in MB per frame
between the shortest and the longest clip, the figure that must stay under 0.1 MB/frame.

    nice python tools/bench_memory.py [--frames 100 600 2400 5000] [--commands run track guidance]
        [--clip ../shared/data/driving/d11.mp4] [--source ../shared/data/source/s1.jpg] [--workdir /tmp/reenact-mem]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tools.benchlib import cpu_name  # noqa: E402

SHARED = REPO.parent / "shared" / "data"


def make_clip(source_clip: Path, frames: int, out: Path) -> Path:
    """`frames` frames of `source_clip`, looped (forwards then backwards, so there is no jump)."""
    from reenact.io.video import iter_frames, probe_video
    from reenact.io.writer import write_video

    if out.is_file() and probe_video(out).frame_count == frames:
        return out
    clip = list(iter_frames(source_clip))  # a few hundred frames: fine to hold here
    loop = clip + clip[-2:0:-1]

    def looped():
        for i in range(frames):
            yield loop[i % len(loop)]

    out.unlink(missing_ok=True)
    write_video(out, looped(), probe_video(source_clip).fps, crf=18)
    return out


def command(name: str, source: Path, clip: Path, out: Path) -> list[str]:
    base = [sys.executable, "-m", "reenact.cli"]
    if name == "run":
        return base + ["-s", str(source), "-d", str(clip), "-o", str(out / "out.mp4"), "--engine", "warp",
                       "--no-cache", "--overwrite", "-q"]
    if name == "track":
        return base + ["track", "-d", str(clip), "-o", str(out / "track.npz"), "--overwrite", "-q"]
    if name == "guidance":
        return base + ["guidance", "-s", str(source), "-d", str(clip), "-o", str(out / "maps"), "--overwrite",
                       "--set", "run.cache=false", "-q"]
    raise ValueError(name)


def peak_rss_mb(argv: list[str], env: dict) -> tuple[float, float, int]:
    """(peak RSS in MB, seconds, exit code) of one fresh process."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace").strip()
    if proc.returncode:
        print(f"  {' '.join(argv[3:5])}: exit {proc.returncode}: {err[-300:]}", file=sys.stderr)
    return usage.ru_maxrss / 1024.0, time.perf_counter() - start, proc.returncode


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", type=int, nargs="+", default=[100, 600, 2400, 5000])
    p.add_argument("--commands", nargs="+", default=["run", "track", "guidance"], choices=["run", "track", "guidance"])
    p.add_argument("--clip", type=Path, default=SHARED / "driving" / "d11.mp4")
    p.add_argument("--source", type=Path, default=SHARED / "source" / "s1.jpg")
    p.add_argument("--workdir", type=Path, default=Path("/tmp/reenact-mem"))
    p.add_argument("--json", type=Path, help="also write the figures here")
    args = p.parse_args()
    if not args.clip.is_file() or not args.source.is_file():
        print(f"need {args.clip} and {args.source} (the shared sample data)", file=sys.stderr)
        return 2
    args.workdir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(REPO), "REENACT_CACHE_DIR": str(args.workdir / "cache")}
    results: dict[str, dict[int, dict]] = {c: {} for c in args.commands}
    for n in args.frames:
        clip = make_clip(args.clip, n, args.workdir / f"drive_{n}.mp4")
        for name in args.commands:
            out = args.workdir / f"out_{name}"
            out.mkdir(exist_ok=True)
            mb, seconds, code = peak_rss_mb(command(name, args.source, clip, out), env)
            results[name][n] = {"peak_rss_mb": round(mb, 1), "seconds": round(seconds, 1), "exit": code}
            print(f"{name:>8} {n:>6} frames: peak RSS {mb:7.1f} MB  ({seconds:.0f} s)", flush=True)
    lo, hi = min(args.frames), max(args.frames)
    print(f"\nmachine: {cpu_name()}, {os.cpu_count()} cores; clip {args.clip.name} looped; source {args.source.name}")
    print("| command | " + " | ".join(f"{n} frames" for n in args.frames) + f" | growth {lo}->{hi} |")
    print("|---|" + "---|" * (len(args.frames) + 1))
    for name, rows in results.items():
        cells = [f"{rows[n]['peak_rss_mb']:.0f} MB" for n in args.frames]
        slope = (rows[hi]["peak_rss_mb"] - rows[lo]["peak_rss_mb"]) / (hi - lo) if hi > lo else 0.0
        print(f"| `{name}` | " + " | ".join(cells) + f" | {slope:.3f} MB/frame |")
    if args.json:
        args.json.write_text(json.dumps({"machine": cpu_name(), "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
