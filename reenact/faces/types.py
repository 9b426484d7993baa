"""What the face stage hands to the rest of the pipeline."""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

FACE_TRACK_SCHEMA = 1
N_LANDMARKS = 478
N_BLENDSHAPES = 52


@dataclass
class FaceTrack:
    """Per-frame MediaPipe face landmarks of one chosen face, and the aligned crops.

    Coordinates are pixels of the original frame: x right, y down, z in the same pixel
    scale as x (MediaPipe's normalised z multiplied by the frame width), smaller z nearer.
    `crop_transforms[t]` is the 2x3 similarity that maps original-frame pixels to pixels
    of the `crop_size` square crop of frame t; invert it to paste a crop back.
    """

    landmarks: np.ndarray        # (T, 478, 3) float32
    blendshapes: np.ndarray      # (T, 52) float32, MediaPipe's scores in [0, 1]
    transforms: np.ndarray       # (T, 4, 4) float32, MediaPipe facial transformation matrices
    boxes: np.ndarray            # (T, 4) float32, smoothed square crop boxes x0, y0, x1, y1
    crop_transforms: np.ndarray  # (T, 2, 3) float32, frame pixels -> crop pixels
    detected: np.ndarray         # (T,) bool; False where the frame was filled by interpolation
    image_size: tuple[int, int]  # (height, width) of the original frames
    crop_size: int
    fps: float
    # (T, 2) float32: detail and lip colour of the mouth as the frame shows it (faces/visibility.py;
    # NaN where no face was detected); None where no frames were seen (presets, older caches)
    mouth: np.ndarray | None = None
    # (T, 2, 2) float32: each eye's (left, right) detail and dark contrast as the frame shows it
    # (faces/visibility.py; NaN where no face was detected or the picture's edge cuts the eye);
    # None where no frames were seen (presets, older caches)
    eyes: np.ndarray | None = None
    # (T,) bool: the first frame of each shot after a cut in the picture (faces/shots.py); None
    # where no frames were seen or for a single image
    cuts: np.ndarray | None = None
    # (T,) float64: each frame's time in seconds as the video stream presents it (a variable frame
    # rate spaces them unevenly: faces/clock.py); None: evenly at fps (a still, a preset, older caches)
    times: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.landmarks.shape[0])

    def landmarks_in_crop(self, frames: slice = slice(None), points: slice = slice(None)) -> np.ndarray:
        """(T, 478, 3) landmarks in crop pixels; z scaled by the same similarity scale.

        frames / points: a part of the track (long clips are processed a block at a time)."""
        crop = self.crop_transforms[frames]
        landmarks = self.landmarks[frames, points]
        a = crop[:, :, :2]
        xy = np.einsum("tij,tnj->tni", a, landmarks[..., :2]) + crop[:, None, :, 2]
        scale = np.sqrt(np.abs(np.linalg.det(a)))[:, None, None]
        return np.concatenate([xy, landmarks[..., 2:] * scale], axis=-1).astype(np.float32)

    def take(self, index: np.ndarray, fps: float) -> "FaceTrack":
        """The track's frames `index` (non-decreasing: frames repeated or left out), as a clip at
        an even `fps`; a cut is kept on the first frame after it."""
        index = np.asarray(index, np.int64)
        cuts = None
        if self.cuts is not None:
            since = np.r_[0, np.cumsum(self.cuts)]         # cuts among frames [0, k)
            cuts = np.r_[bool(self.cuts[index[0]]), since[index[1:] + 1] > since[index[:-1] + 1]]
        start = 0.0 if self.times is None else float(self.times[index[0]])
        return FaceTrack(
            landmarks=self.landmarks[index], blendshapes=self.blendshapes[index], transforms=self.transforms[index],
            boxes=self.boxes[index], crop_transforms=self.crop_transforms[index], detected=self.detected[index],
            image_size=self.image_size, crop_size=self.crop_size, fps=float(fps),
            mouth=None if self.mouth is None else self.mouth[index],
            eyes=None if self.eyes is None else self.eyes[index], cuts=cuts,
            times=start + np.arange(len(index)) / float(fps),
        )

    def save(self, path: str | Path) -> None:
        arrays = {f.name: np.asarray(getattr(self, f.name)) for f in fields(self) if getattr(self, f.name) is not None}
        np.savez_compressed(path, schema=FACE_TRACK_SCHEMA, kind="face_track", **arrays)

    @classmethod
    def load(cls, path: str | Path) -> "FaceTrack":
        with np.load(path, allow_pickle=False) as z:
            if str(z.get("kind", "")) != "face_track" or int(z["schema"]) != FACE_TRACK_SCHEMA:
                from ..errors import InputError

                raise InputError(f"{path} is not a reenact face-track file (schema {FACE_TRACK_SCHEMA})")
            return cls(
                landmarks=z["landmarks"],
                blendshapes=z["blendshapes"],
                transforms=z["transforms"],
                boxes=z["boxes"],
                crop_transforms=z["crop_transforms"],
                detected=z["detected"].astype(bool),
                image_size=tuple(int(v) for v in z["image_size"]),
                crop_size=int(z["crop_size"]),
                fps=float(z["fps"]),
                mouth=z["mouth"] if "mouth" in z.files else None,
                eyes=z["eyes"] if "eyes" in z.files else None,
                cuts=z["cuts"].astype(bool) if "cuts" in z.files else None,
                times=z["times"] if "times" in z.files else None,
            )
