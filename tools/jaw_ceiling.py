#!/usr/bin/env python
"""How well MediaPipe can read a driving clip's jawOpen on a given source face at all.

The judge's jaw_r is MediaPipe's jawOpen read on the output against the one read on the driving
clip. The blendshape model behind it reads 146 landmarks in 2D (x, y) and nothing else, and what it
reads depends on the face: the same lip and chin motion reads as jawOpen on one face and as lips
parting (mouthUpperUp, mouthLowerDown) on another. This tool gives the motion a perfect 2D
transfer: each driving frame's landmarks, their head motion taken out (the similarity the warp
engine fits on its rigid points) and scaled to the source, are added to the source's own landmarks, and the model reads
those points directly. The Pearson r of that reading with the driving's is the best jaw_r any
output keeping the source's face and the driving's landmark motion can get.

Needs the LiteRT interpreter (`pip install ai-edge-litert`), which reenact itself does not; the
model is the one inside reenact's vendored face_landmarker.task.

    python tools/jaw_ceiling.py --source face.jpg --driving clip.mp4 [--output out.mp4]
"""

from __future__ import annotations

import argparse
import sys
import zipfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reenact.errors import InputError  # noqa: E402
from reenact.faces import detect_faces, detect_in_file  # noqa: E402
from reenact.faces.landmarker import blendshape_names  # noqa: E402
from reenact.generate.warp import RIGID_POINTS, similarity_fit  # noqa: E402
from reenact.io.images import read_image  # noqa: E402

TASK = Path(__file__).resolve().parents[1] / "reenact" / "assets" / "face_landmarker.task"
# The landmarks the blendshape model reads, in its input order (MediaPipe's face_blendshapes_graph.cc)
MODEL_POINTS = (
    0, 1, 4, 5, 6, 7, 8, 10, 13, 14, 17, 21, 33, 37, 39, 40, 46, 52, 53, 54, 55, 58, 61, 63, 65, 66, 67, 70, 78,
    80, 81, 82, 84, 87, 88, 91, 93, 95, 103, 105, 107, 109, 127, 132, 133, 136, 144, 145, 146, 148, 149, 150,
    152, 153, 154, 155, 157, 158, 159, 160, 161, 162, 163, 168, 172, 173, 176, 178, 181, 185, 191, 195, 197,
    234, 246, 249, 251, 263, 267, 269, 270, 276, 282, 283, 284, 285, 288, 291, 293, 295, 296, 297, 300, 308,
    310, 311, 312, 314, 317, 318, 321, 323, 324, 332, 334, 336, 338, 356, 361, 362, 365, 373, 374, 375, 377,
    378, 379, 380, 381, 382, 384, 385, 386, 387, 388, 389, 390, 397, 398, 400, 402, 405, 409, 415, 454, 466,
    468, 469, 470, 471, 472, 473, 474, 475, 476, 477)
JAW_OPEN = blendshape_names().index("jawOpen")


class BlendshapeReader:
    """MediaPipe's blendshape model, fed landmark positions (image pixels) directly."""

    def __init__(self):
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError as exc:
            raise InputError("jaw_ceiling needs the LiteRT interpreter: pip install ai-edge-litert") from exc
        with zipfile.ZipFile(TASK) as bundle:
            model = bundle.read("face_blendshapes.tflite")
        self.interpreter = Interpreter(model_content=model)
        self.interpreter.allocate_tensors()
        self.input = self.interpreter.get_input_details()[0]["index"]
        self.output = self.interpreter.get_output_details()[0]["index"]

    def __call__(self, points: np.ndarray) -> np.ndarray:
        """The 52 blendshape scores of one face's 478 landmarks (x, y in pixels)."""
        self.interpreter.set_tensor(self.input, np.asarray(points, np.float32)[None, list(MODEL_POINTS), :2])
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self.output).copy()


def _onto(fixed: np.ndarray, moving: np.ndarray) -> np.ndarray:
    """`moving` (N, 2) carried by the similarity that best maps its rigid points onto `fixed`'s."""
    m = similarity_fit(moving[list(RIGID_POINTS)], fixed[list(RIGID_POINTS)])
    return moving @ m[:, :2].T + m[:, 2]


def ideal_transfer(source: np.ndarray, driving: np.ndarray, reference: int) -> np.ndarray:
    """(T, 478, 2) the source's landmarks plus each driving frame's motion from its `reference` frame,
    head motion taken out, scaled by the two faces' inter-ocular distances."""
    ref = driving[reference]
    scale = np.linalg.norm(source[33] - source[263]) / np.linalg.norm(ref[33] - ref[263])
    return np.stack([source + (_onto(ref, frame) - ref) * scale for frame in driving])


def _r(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a, b)[0, 1]) if a.std() > 1e-9 and b.std() > 1e-9 else float("nan")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", required=True, type=Path)
    ap.add_argument("--driving", required=True, type=Path)
    ap.add_argument("--output", type=Path, help="an output of the pair, to read its own jawOpen beside")
    ap.add_argument("--frames", type=int, default=120)
    ap.add_argument("--reference", type=int, help="the driving frame the motion is measured from "
                    "(default: the one MediaPipe reads as least open; the source's mouth is taken as closed)")
    args = ap.parse_args(argv)
    try:
        reader = BlendshapeReader()
        found = detect_faces([read_image(args.source)], video=False)
        if not found.detected[0]:
            raise InputError(f"no face found in {args.source}")
        source = found.landmarks[0][:, :2].astype(np.float64)
        drive = detect_in_file(args.driving, max_frames=args.frames)
        seen = np.flatnonzero(drive.detected)
        if len(seen) < 3:
            raise InputError(f"fewer than 3 frames of {args.driving} show a face")
        points = drive.landmarks[seen][:, :, :2].astype(np.float64)
        driven = np.array([reader(p)[JAW_OPEN] for p in points])
        if args.reference is None:
            reference = int(np.argmin(driven))
        elif args.reference in seen:
            reference = int(np.searchsorted(seen, args.reference))
        else:
            raise InputError(f"frame {args.reference} of {args.driving} shows no face (or is past --frames)")
        ideal = np.array([reader(p)[JAW_OPEN] for p in ideal_transfer(source, points, reference)])
        print(f"driving jawOpen {driven.min():.2f}-{driven.max():.2f}; reference frame {int(seen[reference])}")
        print(f"ideal 2D transfer onto the source: jawOpen {ideal.min():.2f}-{ideal.max():.2f}, "
              f"r with the driving {_r(ideal, driven):.2f}")
        if args.output is not None:
            out = detect_in_file(args.output, max_frames=args.frames)
            both = [t for t in seen if t < len(out) and out.detected[t]]
            read = np.array([reader(out.landmarks[t][:, :2])[JAW_OPEN] for t in both])
            drv = driven[np.searchsorted(seen, both)]
            print(f"the output: jawOpen {read.min():.2f}-{read.max():.2f}, r with the driving {_r(read, drv):.2f}")
    except InputError as exc:
        print(f"jaw_ceiling: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
