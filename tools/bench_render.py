"""Guidance-map throughput: depth + normal + render at 512x512 for a FLAME-sized mesh.

    python tools/bench_render.py                 # CPU, batch 1 and 8
    python tools/bench_render.py --device cuda --batch 1 8 32

The mesh is reenact.render.primitives.head_like (5042 vertices, 10080 triangles, the size of
FLAME's 5023 / 9976), posed with a different head rotation per frame and projected through the
official camera chain (weak perspective into the 224 crop, back through the source crop
transform) so that it fills a 512 canvas like a FLAME head in a MagicPortrait source crop.
Reported: median over --repeats runs of frames per second, for the rasteriser alone, and for
all three maps as uint8 images (what is written or fed to the generator) with the constant
albedo and with a 256x256 texture sampled at UVs (the official FLAME-texture path). PNG
encoding and writing is measured separately.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reenact.render import Albedo, flame_screen, rasterize, render_guidance, uv_grid_corners, write_guidance  # noqa: E402
from reenact.render.primitives import head_like  # noqa: E402


def make_frames(n: int, seed: int = 0):
    verts, faces = head_like(71, 72)
    rng = np.random.default_rng(seed)
    from scipy.spatial.transform import Rotation

    rot = torch.as_tensor(Rotation.from_rotvec(rng.normal(0, 0.2, (n, 3))).as_matrix(), dtype=torch.float32)
    world = torch.einsum("bij,vj->bvi", rot, verts)
    cam = torch.tensor([[10.5, 0.0, 0.01]]).expand(n, 3)
    side, cx, cy = 300.0, 256.0, 256.0                       # source face box (guidance-maps.md §1.2)
    a = 223 / side
    crop = torch.tensor([[a, 0, -a * (cx - side / 2)], [0, a, -a * (cy - side / 2)]], dtype=torch.float64)
    screen = flame_screen(world, cam, crop.expand(n, 2, 3))
    x, y, z = verts.numpy().T
    uv = np.c_[np.arctan2(x, z) / (2 * np.pi) + 0.5, y / 0.22 + 0.5]
    return screen, world, faces, uv_grid_corners(uv, faces.numpy())


def timed(fn, repeats: int, sync) -> tuple[float, float]:
    """Median wall-clock seconds and median process CPU seconds (all threads) of fn()."""
    fn()                                                    # warm-up
    sync()
    wall, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        sync()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return statistics.median(wall), statistics.median(cpu)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--frames", type=int, default=16, help="frames per timed run")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    sync = (lambda: torch.cuda.synchronize()) if device.type == "cuda" else (lambda: None)
    screen, view, faces, uv = make_frames(args.frames)
    screen, view, faces, uv = screen.to(device), view.to(device), faces.to(device), uv.to(device)
    texture = Albedo(torch.rand(3, 256, 256, generator=torch.Generator().manual_seed(0)).to(device), (0, 0, 0), "bench")
    light = torch.zeros(9, 3)
    light[0], light[3] = 3.0, 0.5
    rows = []
    for batch in args.batch:
        def run(kind):
            def go():
                for start in range(0, args.frames, batch):
                    s, v = screen[start:start + batch], view[start:start + batch]
                    if kind == "raster":
                        rasterize(s, faces, args.size)
                    elif kind == "maps":
                        render_guidance(s, v, faces, image_size=args.size, light=light).to_uint8()
                    else:
                        render_guidance(s, v, faces, image_size=args.size, light=light, albedo=texture,
                                        uv_corners=uv).to_uint8()
            return go
        row = {"batch": batch}
        for kind in ("raster", "maps", "maps_textured"):
            wall, cpu = timed(run(kind), args.repeats, sync)
            row[kind + "_fps"] = round(args.frames / wall, 1)
            row[kind + "_cpu_ms_per_frame"] = round(cpu / args.frames * 1e3, 1)
        rows.append(row)
    frames = render_guidance(screen[:8], view[:8], faces, image_size=args.size, light=light)
    with tempfile.TemporaryDirectory() as tmp:
        write_s, _ = timed(lambda: write_guidance(Path(tmp) / "g", [frames], overwrite=True), 3, lambda: None)
    info = {"device": str(device), "torch": torch.__version__, "threads": torch.get_num_threads(),
            "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
            "load_avg_1min": round(os.getloadavg()[0], 2), "size": args.size, "vertices": int(view.shape[1]),
            "triangles": int(faces.shape[0]), "covered_px_mean": int(frames.mask.sum().item() / len(frames)),
            "frames_per_run": args.frames, "repeats": args.repeats, "png_write_fps": round(8 / write_s, 1),
            "results": rows}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    if args.json:
        print(json.dumps(info, indent=2))
        return
    print(f"{info['vertices']} vertices, {info['triangles']} triangles, {args.size}x{args.size}, "
          f"~{info['covered_px_mean']} covered px/frame; {device} ({info['threads']} threads), load {info['load_avg_1min']}")
    print("frames/s wall clock (CPU ms per frame, all threads)")
    print("| batch | rasterise only | depth+normal+render (uint8) | with texture |")
    print("|---:|---:|---:|---:|")
    for r in rows:
        cells = [f"{r[k + '_fps']} ({r[k + '_cpu_ms_per_frame']} ms)" for k in ("raster", "maps", "maps_textured")]
        print(f"| {r['batch']} | " + " | ".join(cells) + " |")
    print(f"PNG writing (3 maps per frame, compress_level 1): {info['png_write_fps']} frames/s")


if __name__ == "__main__":
    main()
