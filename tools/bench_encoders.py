"""Encoders' ms/frame on CPU (DECA coarse encoder, SMIRK expression encoder, their crops), on the
recipe's random weights (speed does not depend on the values).

    python tools/bench_encoders.py 1        # torch threads
"""
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
from recipe import load_manifest, random_state_dict
from reenact.tracking.encoders.checkpoint import assign_state, smirk_state
from reenact.tracking.encoders import DecaEncoder, SmirkExpressionEncoder
from reenact.tracking.encoders.preprocess import deca_input, smirk_input
threads = int(sys.argv[1]); torch.set_num_threads(threads)
deca = assign_state(DecaEncoder(), random_state_dict(load_manifest(str(REPO / "tests/fixtures/deca/deca_E_flame_manifest.json")), 1), "d")
sm = assign_state(SmirkExpressionEncoder(), smirk_state(random_state_dict(load_manifest(str(REPO / "tests/fixtures/smirk/smirk_encoder_manifest.json")), 2), "s"), "s")
img = np.random.default_rng(0).integers(0, 255, (512, 512, 3), np.uint8)
pts = np.random.default_rng(1).uniform(150, 370, (478, 2))
def med(fn, reps=7):
    fn(); ts = []; cs = []
    for _ in range(reps):
        t = time.perf_counter(); c = time.process_time(); fn(); ts.append(time.perf_counter() - t); cs.append(time.process_time() - c)
    cpu.append(statistics.median(cs))
    return statistics.median(ts)
cpu = []
res = {}
res["deca_crop_ms"] = med(lambda: deca_input(img, pts[:68])) * 1e3
res["smirk_crop_ms"] = med(lambda: smirk_input(img, pts)) * 1e3
for b in (1, 8):
    x = torch.rand(b, 3, 224, 224)
    with torch.no_grad():
        res[f"deca_b{b}_ms_per_frame"] = med(lambda: deca(x), 5) * 1e3 / b
        res[f"smirk_b{b}_ms_per_frame"] = med(lambda: sm(x), 5) * 1e3 / b
print(threads, json.dumps({k: round(v, 1) for k, v in res.items()}))
print("cpu ms", [round(c * 1e3, 1) for c in cpu], "(same order; per call, divide batch-8 entries by 8)")
