"""Reproducible random weights for the encoder equivalence tests.

The official DECA and SMIRK checkpoints are licensed and large, so the golden outputs in
tests/fixtures/{deca,smirk} were made by the official code with random weights built by
`random_state_dict` from the committed key/shape manifest; a test rebuilds the same weights.

Recipe: one torch.Generator seeded with `seed`; keys in sorted order; for each key, by its role:
    *.num_batches_tracked       zeros (no draw)
    *.running_mean              0.05 * randn
    *.running_var               1 + 0.1 * rand
    BatchNorm weight            1 + 0.05 * randn     (a module with running stats)
    any other 1-d tensor        0.02 * randn          (biases)
    weights (2-d or more)       randn / sqrt(fan_in), fan_in = prod(shape[1:])
all float32 (float64 draws, rounded once), except the int64 counters.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch


def load_manifest(path: str | Path) -> dict[str, list]:
    """{key: [shape, dtype]} from a committed manifest (json)."""
    return {k: [list(v[0]), v[1]] for k, v in json.loads(Path(path).read_text())["keys"].items()}


def random_state_dict(manifest: dict[str, list], seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    keys = sorted(manifest)
    stats = {k[: -len("running_mean")] for k in keys if k.endswith("running_mean")}
    out = {}
    for key in keys:
        shape, dtype = manifest[key]
        if key.endswith("num_batches_tracked"):
            out[key] = torch.zeros(shape, dtype=getattr(torch, dtype))
            continue
        prefix = key[: key.rfind(".") + 1]
        if key.endswith("running_mean"):
            t = 0.05 * torch.randn(shape, generator=g, dtype=torch.float64)
        elif key.endswith("running_var"):
            t = 1 + 0.1 * torch.rand(shape, generator=g, dtype=torch.float64)
        elif key.endswith("weight") and prefix in stats:
            t = 1 + 0.05 * torch.randn(shape, generator=g, dtype=torch.float64)
        elif len(shape) <= 1:
            t = 0.02 * torch.randn(shape, generator=g, dtype=torch.float64)
        else:
            t = torch.randn(shape, generator=g, dtype=torch.float64) / math.sqrt(math.prod(shape[1:]))
        out[key] = t.to(getattr(torch, dtype))
    return out


def fingerprint(state: dict[str, torch.Tensor]) -> list[float]:
    """Sum and sum of squares over all floating tensors: detects a recipe that no longer reproduces."""
    total = sum(float(v.double().sum()) for v in state.values() if v.is_floating_point())
    squares = sum(float(v.double().pow(2).sum()) for v in state.values() if v.is_floating_point())
    return [total, squares]


FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
DECA_MANIFEST = FIXTURES / "deca" / "deca_E_flame_manifest.json"
SMIRK_MANIFEST = FIXTURES / "smirk" / "smirk_encoder_manifest.json"


def recipe_state(manifest_path: Path) -> tuple[dict[str, torch.Tensor], list[float]]:
    """The random weights of a manifest, and the fingerprint the manifest says they must have."""
    info = json.loads(Path(manifest_path).read_text())
    return random_state_dict(load_manifest(manifest_path), info["seed"]), info["fingerprint"]


def write_random_checkpoints(folder: Path) -> tuple[Path, Path]:
    """deca_model.tar and SMIRK_em1.pt in the official formats, holding the recipe's random weights."""
    folder.mkdir(parents=True, exist_ok=True)
    deca, smirk = folder / "deca_model.tar", folder / "SMIRK_em1.pt"
    torch.save({"E_flame": recipe_state(DECA_MANIFEST)[0], "E_detail": {}, "D_detail": {}}, deca)
    state = recipe_state(SMIRK_MANIFEST)[0]
    state["smirk_generator.encoder.0.weight"] = torch.zeros(4, 3, 3, 3)   # the file also holds the generator
    torch.save(state, smirk)
    return deca, smirk
