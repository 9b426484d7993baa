"""The optional network weights the evaluation can use, where reenact looks for them, and what
each one is. None ships with reenact and none is downloaded: a metric whose file is absent is
reported as "not measured: <file> missing"."""

from __future__ import annotations

import hashlib
import importlib.util
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ..asset import Asset


@dataclass(frozen=True)
class WeightFile:
    key: str
    filename: str
    metric: str
    what: str                      # what it is and where a user gets it
    without: str                   # what the evaluation does when it is absent
    also_in: tuple[str, ...] = ()  # other places a copy often already sits (expanded at lookup)


WEIGHT_FILES = {
    w.key: w for w in (
        WeightFile("lpips_backbone", "alexnet-owt-7be5be79.pth", "lpips",
                   "torchvision's ImageNet AlexNet weights (the LPIPS backbone); torchvision saves it under "
                   "~/.cache/torch/hub/checkpoints/ when `torchvision.models.alexnet(weights='IMAGENET1K_V1')` runs",
                   "LPIPS is not measured", ("~/.cache/torch/hub/checkpoints/alexnet-owt-7be5be79.pth",)),
        WeightFile("lpips_linear", "lpips_alex_v0.1.pth", "lpips",
                   "the LPIPS v0.1 linear layers for AlexNet: lpips/weights/v0.1/alex.pth inside the PyPI "
                   "package `lpips` (BSD-2), copied and renamed",
                   "LPIPS is not measured", ("pkg:lpips/weights/v0.1/alex.pth",)),
        WeightFile("inception", "inception-2015-12-05.pt", "fid",
                   "the TorchScript Inception-v3 FID feature network of NVIDIA's stylegan2-ada-pytorch / clean-fid "
                   "(inception-2015-12-05.pt)", "FID is not measured"),
        WeightFile("i3d", "i3d_torchscript.pt", "fvd",
                   "the TorchScript I3D (Kinetics-400) FVD feature network used by StyleGAN-V and "
                   "universome/fvd-comparison (i3d_torchscript.pt)", "FVD is not measured"),
        WeightFile("arcface", "arcface_backbone.pth", "csim",
                   "an ArcFace iResNet-50/100 state dict from insightface's arcface_torch model zoo "
                   "(backbone.pth, e.g. ms1mv3_arcface_r100_fp16), renamed", "CSIM uses dlib's face-recognition ResNet"),
        WeightFile("dlib_landmarks", "shape_predictor_68_face_landmarks.dat", "akd, apd, bg_rmse",
                   "dlib's 68-point shape predictor; ships in the PyPI package `face-recognition-models` "
                   "(pip install 'reenact[eval]')",
                   "AKD and APD use MediaPipe landmarks, CSIM needs ArcFace",
                   ("pkg:face_recognition_models/models/shape_predictor_68_face_landmarks.dat",)),
        WeightFile("dlib_recognition", "dlib_face_recognition_resnet_model_v1.dat", "csim",
                   "dlib's 128-d face-recognition ResNet; ships in the PyPI package `face-recognition-models` "
                   "(pip install 'reenact[eval]')", "CSIM needs ArcFace",
                   ("pkg:face_recognition_models/models/dlib_face_recognition_resnet_model_v1.dat",)),
    )
}


def _package_file(spec: str) -> Path | None:
    """`pkg:name/rel/path` -> that file inside an installed package, found without importing it
    (face_recognition_models' __init__ needs pkg_resources, which new setuptools no longer has)."""
    package, _, rel = spec[4:].partition("/")
    try:
        found = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if found is None or not found.submodule_search_locations:
        return None
    return Path(list(found.submodule_search_locations)[0]) / rel


def candidates(key: str, weights_dir: Path) -> list[Path]:
    w = WEIGHT_FILES[key]
    out = [Path(weights_dir) / w.filename]
    for place in w.also_in:
        p = _package_file(place) if place.startswith("pkg:") else Path(os.path.expanduser(place))
        if p is not None:
            out.append(p)
    return out


def find_weight(key: str, weights_dir: Path) -> Path | None:
    """The first existing file for `key`: weights_dir/<filename>, then the usual other places."""
    for p in candidates(key, weights_dir):
        if p.is_file():
            return p
    return None


def missing(key: str, weights_dir: Path) -> str:
    """The report's wording for an absent file."""
    return f"not measured: {Path(weights_dir) / WEIGHT_FILES[key].filename} missing"


@lru_cache(maxsize=32)
def short_digest(path: str) -> str:
    """sha256 of a weight file, first 12 hex digits, for the report's estimator versions."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 22):
            h.update(block)
    return h.hexdigest()[:12]


def describe(path: Path) -> str:
    return f"{path.name} sha256:{short_digest(str(path))}"


def weight_status(weights_dir: Path) -> list[Asset]:
    """Each evaluation weight file, found or missing, and what it is (`reenact doctor`)."""
    rows = []
    for w in WEIGHT_FILES.values():
        found = find_weight(w.key, weights_dir)
        rows.append(Asset("eval", f"{w.metric}: {w.filename}", found or Path(weights_dir) / w.filename,
                          found is not None, False,
                          f"used for {w.metric}" if found else f"optional (without it {w.without}): {w.what}"))
    return rows
