"""Encoders' ms/frame (DECA coarse encoder, SMIRK expression encoder, their crops) on the recipe's
random weights (speed does not depend on the values), on the CPU or a GPU.

    python tools/bench_encoders.py --threads 1          # CPU, one torch thread
    python tools/bench_encoders.py --device cuda        # GPU, fp32, batches 1, 8 and 64
"""
import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "tracking" / "encoders"))
from recipe import load_manifest, random_state_dict  # noqa: E402

from reenact.tracking.encoders import DecaEncoder, SmirkExpressionEncoder  # noqa: E402
from reenact.tracking.encoders.checkpoint import assign_state, smirk_state  # noqa: E402
from reenact.tracking.encoders.preprocess import deca_input, smirk_input  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("threads_positional", nargs="?", type=int, help=argparse.SUPPRESS)   # old spelling
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batches", type=int, nargs="+", default=None, help="default: 1 8 (CPU), 1 8 64 (GPU)")
    args = ap.parse_args()
    threads = args.threads or args.threads_positional
    if threads:
        torch.set_num_threads(threads)
    device = torch.device(args.device)
    batches = args.batches or ([1, 8, 64] if device.type == "cuda" else [1, 8])
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    manifests = REPO / "tests" / "fixtures"
    deca = assign_state(DecaEncoder(), random_state_dict(load_manifest(str(manifests / "deca/deca_E_flame_manifest.json")), 1), "d")
    smirk = assign_state(SmirkExpressionEncoder(), smirk_state(random_state_dict(
        load_manifest(str(manifests / "smirk/smirk_encoder_manifest.json")), 2), "s"), "s")
    deca, smirk = deca.to(device).eval(), smirk.to(device).eval()
    image = np.random.default_rng(0).integers(0, 255, (512, 512, 3), np.uint8)
    points = np.random.default_rng(1).uniform(150, 370, (478, 2))

    def median_ms(fn, repeats: int = 7) -> float:
        fn()
        sync()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            sync()
            times.append(time.perf_counter() - start)
        return statistics.median(times) * 1e3

    result = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
              "threads": torch.get_num_threads(),
              "deca_crop_ms": median_ms(lambda: deca_input(image, points[:68])),
              "smirk_crop_ms": median_ms(lambda: smirk_input(image, points))}
    for b in batches:
        x = torch.rand(b, 3, 224, 224, device=device)
        with torch.no_grad():
            result[f"deca_b{b}_ms_per_frame"] = median_ms(lambda: deca(x), 5) / b
            result[f"smirk_b{b}_ms_per_frame"] = median_ms(lambda: smirk(x), 5) / b
    print(json.dumps({k: round(v, 2) if isinstance(v, float) else v for k, v in result.items()}))


if __name__ == "__main__":
    main()
