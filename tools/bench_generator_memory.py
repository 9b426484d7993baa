#!/usr/bin/env python
"""Host memory of the diffusion pipeline must stay flat with clip length; exits 1 when it grows.

Runs the tiny random-weight pipeline (fixture widths) end to end -- streamed guidance batches,
denoising, chunked decode, uint8 frames handed to a consumer that drops them, as the engine hands
them to the video writer -- once per clip length, each in a fresh process, and compares the peak
resident set sizes: growth per extra frame must stay under --limit-mib (0.5 MiB by default; the old
pipeline grew ~15 MiB per 512^2 frame).

    python tools/bench_generator_memory.py                  # 64 and 1024 frames at 128^2, 1 step
    python tools/bench_generator_memory.py --frames 64 256 --json out.json
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def child(frames: int, size: int, steps: int) -> dict:
    """One clip in this process; returns its peak RSS (MiB) and wall time."""
    import numpy as np
    import torch

    from reenact.generate.diffusion import GenerationSettings
    from tools.bench_generator import build_pipeline

    torch.set_num_threads(1)
    pipe = build_pipeline(True, torch.device("cpu"), torch.float32)
    rng = np.random.default_rng(0)
    reference = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)

    def batches():            # made on the fly, as the renderer streams them
        for start in range(0, frames, 8):
            n = min(8, frames - start)
            yield {t: rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8) for t in ("depth", "normal", "render")}

    settings = GenerationSettings(width=size, height=size, num_inference_steps=steps, guidance_scale=3.5)
    start = time.perf_counter()
    latents = pipe.generate_latents(reference, batches(), settings, num_frames=frames, progress=False)
    count = sum(1 for _ in pipe.iter_frames(latents, settings.decode_chunk))
    assert count == frames
    return {"frames": frames, "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "seconds": time.perf_counter() - start}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, nargs=2, default=[64, 1024], metavar=("SHORT", "LONG"))
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--steps", type=int, default=1)
    ap.add_argument("--limit-mib", type=float, default=0.5, help="allowed peak-RSS growth per extra frame")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child is not None:
        print(json.dumps(child(args.child, args.size, args.steps)))
        return 0
    runs = []
    for n in args.frames:
        out = subprocess.run([sys.executable, __file__, "--child", str(n), "--size", str(args.size),
                              "--steps", str(args.steps)], capture_output=True, text=True, check=True)
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    short, long = runs
    growth = (long["peak_rss_mib"] - short["peak_rss_mib"]) / (long["frames"] - short["frames"])
    result = {"runs": runs, "growth_mib_per_frame": growth, "limit_mib_per_frame": args.limit_mib,
              "size": args.size, "steps": args.steps}
    print(f"peak RSS {short['peak_rss_mib']:.0f} MiB at {short['frames']} frames, {long['peak_rss_mib']:.0f} MiB at "
          f"{long['frames']} frames: {growth * 1024:.1f} KiB per frame (limit {args.limit_mib * 1024:.0f} KiB)")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0 if growth < args.limit_mib else 1


if __name__ == "__main__":
    raise SystemExit(main())
