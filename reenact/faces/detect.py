"""Per-frame face landmarks for a video or an image, one chosen face, gaps filled, crops smoothed."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Callable, Iterable

import cv2
import numpy as np

from ..errors import InputError, NoFaceError
from ..notes import frame_list
from ..schema import FaceOptions
from .crop import (corner_boxes, crop_transforms, detector_box_from_landmarks, is_already_cropped, landmark_boxes,
                   official_boxes, smooth_boxes)
from .landmarker import FaceDetection, Landmarker
from .types import N_BLENDSHAPES, N_LANDMARKS, FaceTrack
from .shots import each_shot, picture_signature, shot_ids, shot_starts
from .visibility import EYES, face_visibility

log = logging.getLogger("reenact")


def for_magicportrait(opts: FaceOptions, feeds: bool) -> FaceOptions:
    """The options with an "auto" crop rule resolved: the official crop when the maps feed the
    MagicPortrait model (diffusion engine, `reenact guidance`), else the landmark crop."""
    if opts.crop_rule != "auto":
        return opts
    return replace(opts, crop_rule="official" if feeds else "landmarks")


def choose_face(faces: list[FaceDetection], previous: FaceDetection | None, index: int | None) -> FaceDetection:
    """The face to follow: by size rank at the start, then the one nearest the previous choice."""
    if previous is not None:
        centre = previous.box.reshape(2, 2).mean(0)
        return min(faces, key=lambda f: float(np.linalg.norm(f.box.reshape(2, 2).mean(0) - centre)))
    ranked = sorted(faces, key=lambda f: f.area, reverse=True)
    if index is not None and index >= len(ranked):
        raise InputError(f"face index {index} requested but only {len(ranked)} face(s) found")
    return ranked[index or 0]


def _shifted(face: FaceDetection, x: int, y: int) -> FaceDetection:
    lm = face.landmarks.copy()
    lm[:, 0] += x
    lm[:, 1] += y
    return FaceDetection(lm, face.blendshapes, face.transform)


def _window_origins(length: int, side: int) -> list[int]:
    starts = list(range(0, max(length - side, 0) + 1, max(side // 2, 1)))
    if starts[-1] + side < length:
        starts.append(length - side)
    return starts


def _distinct(faces: list[FaceDetection]) -> list[FaceDetection]:
    """Drop repeats of one face seen from overlapping windows (keep the larger view)."""
    kept: list[FaceDetection] = []
    for face in sorted(faces, key=lambda f: f.area, reverse=True):
        centre, side = face.box.reshape(2, 2).mean(0), np.sqrt(face.area)
        if all(np.linalg.norm(k.box.reshape(2, 2).mean(0) - centre) > 0.5 * side for k in kept):
            kept.append(face)
    return kept


# px: the smallest window searched, the detector's own thumbnail (nothing is shrunk). A face is
# found down to about 16 px across in its window's thumbnail: with windows halved only down to 160
# px, a 1080 px frame's last were 270 px, and the five portraits 51-102 px high in a 1080p photo
# (5-26 px between the eyes) were found in 13 of 60 cases (the rest no face, or a face three times
# too large read from the whole picture blurred); in 51 of 60 with 128 px windows last.
MIN_WINDOW = 128


def _window_sides(shorter: int) -> list[int]:
    """The sides of the windows searched in turn: half the picture's shorter side (where that is
    at least 96 px), then MIN_WINDOW times each power of two under two thirds of it, largest first
    (the smallest is MIN_WINDOW itself, whatever the picture's size)."""
    first = shorter // 2
    if first < 96:
        return []
    ladder = [MIN_WINDOW]
    while ladder[-1] * 2 * 1.5 < first:
        ladder.append(ladder[-1] * 2)
    return [first] + [side for side in reversed(ladder) if side * 1.5 < first]


# A face is read again where the square around it is under this share of the picture's shorter
# side: a still's where there is anything to crop; a video's first only where the face is small in
# its frame. MediaPipe places a video's later frames from the last one's landmarks, and a first
# frame read differently from them sets it apart by the two reads' own difference (about 0.01
# inter-ocular distances: a clip's first and third frames, the same picture, no longer the same).
REREAD_BELOW = {"still": 0.9, "video": 1 / 3}

# Gaussian blurs (sigma, px), weakest first, of a still in which no face is found as it is: a
# picture made of marks (a halftone print, an engraving's hatching, heavy grain) is a face only
# once they merge. Halftones of the nine development portraits at cells of 3-12 px were found by
# none of MediaPipe's reads, and by the whole-picture detector at one of these in 39 of 45 cases
# (the statue's in 1 of 5).
DESCREEN_SIGMAS = (2.0, 3.0, 4.0, 6.0, 8.0)
# what a frame without a face shows of one (faces/visibility.py's signals): nothing measured
_NOT_SHOWN = ((np.nan, np.nan), np.full((len(EYES), 2), np.nan, np.float32))


def reread_window(box: np.ndarray, span: float, image_size: tuple[int, int],
                  below: float = REREAD_BELOW["still"]) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1): the square `span` times a face's landmark box (x0, y0, x1, y1) around it,
    within the picture; None where that is `below` of the picture's shorter side or more (nothing
    to gain)."""
    h, w = image_size
    (x0, y0), (x1, y1) = np.asarray(box, np.float64).reshape(2, 2)
    side = span * max(x1 - x0, y1 - y0)
    if side <= 0 or side >= below * min(h, w):
        return None
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    a, b = int(max(cx - side / 2, 0)), int(max(cy - side / 2, 0))
    return a, b, int(min(cx + side / 2, w)), int(min(cy + side / 2, h))


class _FaceFinder:
    """Full-frame detection first; MediaPipe's detector sees a 128 px thumbnail, so faces that are
    small in a large frame are looked for near the previous face, then in overlapping windows of
    half the frame's shorter side. A still picture (a portrait, once) goes on to smaller windows
    (`_window_sides`) until one finds a face: a 300 px face in a 6000 px photo is 6 px in the
    thumbnail and 19 px in a half-side window, too small either way. A video searches that deep
    only where it has lost its face (or not yet found one; while it has one, the previous face
    leads), and only in some of those frames (`deep_frame`): a clip's faceless frames (a title, a
    cut away) would each pay for the whole search (1-2 s a 1080p frame)."""

    # the frames of a run without a face that are searched deep: the clip's first DEEP_FRAMES (where
    # no face came before them), then every DEEP_EVERY-th up to DEEP_UNTIL frames into the run (8.5 s
    # at 30 frames/s), then each power of two.
    # A video searched deep only in its first three frames: a clip that opens on a title card or
    # fades in from black, its face small (a wide shot), never found its face ("no face found" for
    # the whole clip), nor one that cut from a close-up to a wide shot found the small face after
    # the cut. A clip with no face at all pays for about 40 deep searches in 10 minutes of frames.
    DEEP_FRAMES = 3
    DEEP_EVERY = 8
    DEEP_UNTIL = 256

    @classmethod
    def deep_frame(cls, missed: int, seen: bool) -> bool:
        """Whether the video frame after `missed` faceless ones in a row is searched deep; `seen`:
        the clip has had a face (a face lost for a frame or two, blurred or covered, is not sought
        in every window: 1-2 s each at 1080p, and a 20-frame gap took 2.5x as long to read)."""
        if missed < cls.DEEP_FRAMES:
            return not seen
        if missed <= cls.DEEP_UNTIL:
            return missed % cls.DEEP_EVERY == 0
        return missed & (missed - 1) == 0

    def __init__(self, opts: "FaceOptions", video: bool):
        self.opts = opts
        self.video = video
        self.missed = 0              # searches since a face was last found (or since the first)
        self.seen = False            # a face found in any search so far
        self.full = Landmarker(max_faces=opts.max_faces, video=video, min_confidence=opts.min_detection_confidence)
        self._local: Landmarker | None = None
        # every face the last search found: if the one chosen is not found again (a false detection
        # in the first frame of a clip whose real face is too small for the whole-frame detector),
        # the others are looked for where they were before the frame is given up
        self.others: list[np.ndarray] = []
        self.descreened = 0.0     # the blur (px) a still's face was found at (the middle one); 0: none

    @property
    def local(self) -> Landmarker:
        if self._local is None:
            self._local = Landmarker(max_faces=self.opts.max_faces, video=False,
                                     min_confidence=self.opts.min_detection_confidence)
        return self._local

    def find(self, frame: np.ndarray, previous: FaceDetection | None) -> list[FaceDetection]:
        faces = self._search(frame, previous)
        if not faces and not self.video:
            faces = self._descreened(frame)
            if faces:            # read at several blurs already: no one blur's read to refine
                return faces
            faces, frame = self._descreened_small(frame)
        if (self.video and previous is not None) or self.opts.reread_span <= 0:
            return faces
        return [self._reread(frame, face) for face in faces]

    def _reread(self, frame: np.ndarray, face: FaceDetection) -> FaceDetection:
        """A face read again from a square around it (`reread_span` times its extent): a still's,
        and a video's first where it is small (REREAD_BELOW). MediaPipe's detector places the
        landmark model's view from a 128 px thumbnail of the whole picture, so a face small in a
        large picture is read from a loosely placed view: a portrait in a canvas three times its
        height had landmarks 0.09 inter-ocular distances (mean) from the same portrait's own, and
        0.006 once read again. In a video MediaPipe places each later frame's view from the
        previous frame's landmarks (the astronaut in such a canvas, as a clip: 0.05 in its first
        frame, 0.006-0.008 in the next).
        The head transform stays the first read's: MediaPipe fits it with a camera over the whole
        picture, as it does a video's whole frames (over the square, a face high in a portrait
        read 6-7 degrees less pitch)."""
        window = reread_window(face.box, self.opts.reread_span, frame.shape[:2],
                               REREAD_BELOW["video" if self.video else "still"])
        if window is None:
            return face
        x0, y0, x1, y1 = window
        found = [_shifted(f, x0, y0) for f in self.local.detect(frame[y0:y1, x0:x1])]
        if not found:
            return face
        again = choose_face(found, face, None)      # the one nearest the first read
        return FaceDetection(again.landmarks, again.blendshapes, face.transform)

    def _descreened(self, frame: np.ndarray) -> list[FaceDetection]:
        """The faces of a still that the whole-picture detector finds once it is blurred, each with
        its landmarks' median over the DESCREEN_SIGMAS that show it: the blur that suits a screen
        is about half its cell, and unknown. On cells of 4-8 px the median of the reads lay 0.02-0.17
        inter-ocular distances (mean) from the unscreened picture's landmarks, the weakest blur's
        read 0.02-0.30."""
        reads = [(sigma, found) for sigma in DESCREEN_SIGMAS
                 if (found := self.full.detect(cv2.GaussianBlur(frame, (0, 0), sigma)))]
        if not reads:
            return []
        self.descreened = reads[len(reads) // 2][0]
        middle = reads[len(reads) // 2][1]
        return [FaceDetection(np.median([choose_face(found, face, None).landmarks for _, found in reads], axis=0),
                              face.blendshapes, face.transform) for face in middle]

    def _descreened_small(self, frame: np.ndarray) -> tuple[list[FaceDetection], np.ndarray]:
        """A still's faces too small for the whole-picture detector even blurred: searched for in
        windows of it blurred by the first of DESCREEN_SIGMAS that shows one, with that copy (to
        read them again from); none and the still where none does."""
        for sigma in DESCREEN_SIGMAS:
            soft = cv2.GaussianBlur(frame, (0, 0), sigma)
            faces = self._search(soft, None)
            if faces:
                self.descreened = sigma
                return faces, soft
        return [], frame

    def _search(self, frame: np.ndarray, previous: FaceDetection | None) -> list[FaceDetection]:
        # a still searches deep once (its later searches are of it blurred)
        deep = self.deep_frame(self.missed, self.seen) if self.video else self.missed == 0
        faces = self._look(frame, previous, deep)
        self.missed = 0 if faces else self.missed + 1
        self.seen = self.seen or bool(faces)
        return faces

    def _look(self, frame: np.ndarray, previous: FaceDetection | None, deep: bool) -> list[FaceDetection]:
        faces = self.full.detect(frame)
        if faces:
            self.others = [f.box for f in faces]
            return faces
        h, w = frame.shape[:2]
        if previous is not None:
            # the chosen face first, then the others (the chosen one is among them: not twice)
            others = [box for box in self.others if not np.array_equal(box, previous.box)]
            for box in [previous.box] + others:
                (x0, y0), (x1, y1) = box.reshape(2, 2)
                side = int(max(x1 - x0, y1 - y0) * 3)
                cx, cy = int((x0 + x1) / 2), int((y0 + y1) / 2)
                x, y = max(0, cx - side // 2), max(0, cy - side // 2)
                faces = [_shifted(f, x, y) for f in self.local.detect(frame[y:y + side, x:x + side])]
                if faces:
                    return faces
        for side in _window_sides(min(h, w)):
            found = []
            for y in _window_origins(h, side):
                for x in _window_origins(w, side):
                    found += [_shifted(f, x, y) for f in self.local.detect(frame[y:y + side, x:x + side])]
            if found or not deep:
                found = _distinct(found)
                if found:
                    self.others = [f.box for f in found]
                return found
        return []

    def close(self) -> None:
        self.full.close()
        if self._local is not None:
            self._local.close()

    def __enter__(self) -> "_FaceFinder":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _fill_gaps(values: np.ndarray, detected: np.ndarray) -> np.ndarray:
    """Linear interpolation over time between detected frames; the ends hold the nearest value."""
    t = np.arange(len(values))
    known = t[detected]
    flat = values.reshape(len(values), -1)
    out = np.empty_like(flat)
    for j in range(flat.shape[1]):
        out[:, j] = np.interp(t, known, flat[detected, j])
    return out.reshape(values.shape)


def runs(detected: np.ndarray, breaks: np.ndarray | None = None) -> list[tuple[int, int]]:
    """(start, length) of every run of True frames; a run also ends before a `breaks` frame."""
    starts = detected & ~np.r_[False, detected[:-1]]
    if breaks is not None:
        starts |= detected & breaks
    first = [int(a) for a in np.flatnonzero(starts)]
    missing = np.flatnonzero(~np.r_[detected, False])      # frames without a face, and the end
    spans = []
    for k, a in enumerate(first):
        end = int(missing[np.searchsorted(missing, a)])
        if k + 1 < len(first):
            end = min(end, first[k + 1])
        spans.append((a, end - a))
    return spans


def face_jumps(landmarks: np.ndarray, detected: np.ndarray) -> np.ndarray:
    """(T,) bool: frames whose face lies more than its own size away from the previous frame's (a
    different face: the first frame's false detection given up for the real one, a cut)."""
    xy = landmarks[..., :2]
    centre = (xy.min(1) + xy.max(1)) / 2
    size = (xy.max(1) - xy.min(1)).max(1)
    jump = np.zeros(len(detected), bool)
    both = detected[1:] & detected[:-1]
    moved = np.linalg.norm(np.diff(centre, axis=0), axis=1) > np.maximum(size[1:], size[:-1])
    jump[1:] = both & moved
    return jump


def brief_detections(detected: np.ndarray, min_run: int, breaks: np.ndarray | None = None) -> np.ndarray:
    """(T,) bool: frames of runs with a face shorter than `min_run`, in a clip that has a longer run.

    A talking head is seen for many frames in a row; a face found in one frame here and there,
    amid frames without one, is a detector's false alarm (a cartoon's title, a cloud): followed,
    it set the clip's pose and its reference, and the real face's first frames slid in from it.
    `breaks` (face_jumps) also ends a run: a face elsewhere in the frame is another run."""
    found = runs(detected, breaks)
    brief = np.zeros(len(detected), bool)
    if any(length >= min_run for _, length in found):
        for start, length in found:
            if length < min_run:
                brief[start:start + length] = True
    return brief


def detect_faces(frames: Iterable[np.ndarray], fps: float = 0.0, options: FaceOptions | None = None,
                 video: bool = True, total: int | None = None,
                 progress: Callable[[Iterable, int | None, str], Iterable] | None = None,
                 source_name: str = "input") -> FaceTrack:
    """Landmarks of one face through a sequence of RGB frames, with smoothed square crops."""
    opts = options or FaceOptions()
    frames = progress(frames, total, f"landmarks {source_name}") if progress else frames
    landmarks, blends, transforms, detected, shown, pictures = [], [], [], [], [], []
    chosen: FaceDetection | None = None
    several_reported = False
    image_size = None
    # the picture's signature and the mouth's and eyes' signals measured beside MediaPipe, in a thread of
    # their own (OpenCV releases the GIL): 2.4 ms of the face stage's 18 per 512 px frame
    with _FaceFinder(opts, video) as finder, ThreadPoolExecutor(max_workers=1, thread_name_prefix="faces") as beside:
        for frame in frames:
            image_size = frame.shape[:2]
            if video:
                pictures.append(beside.submit(picture_signature, frame))
            faces = finder.find(frame, chosen)
            if finder.descreened:
                log.info("%s: no face in the picture as it is; read from it blurred (%g px) as a halftone, "
                         "hatching or grain needs", source_name, finder.descreened)
                finder.descreened = 0.0
            if faces:
                if len(faces) > 1 and not several_reported:
                    rank = opts.face_index or 0
                    log.warning("%s: %d faces found; using the %s (face_index=%d)", source_name, len(faces),
                                "largest" if rank == 0 else f"{rank + 1}-th largest", rank)
                    several_reported = True
                chosen = choose_face(faces, chosen, opts.face_index)
                landmarks.append(chosen.landmarks)
                blends.append(chosen.blendshapes)
                transforms.append(chosen.transform)
                detected.append(True)
                shown.append(beside.submit(face_visibility, frame, chosen.landmarks))
            else:
                landmarks.append(np.zeros((N_LANDMARKS, 3), np.float32))
                blends.append(np.zeros(N_BLENDSHAPES, np.float32))
                transforms.append(np.eye(4, dtype=np.float32))
                detected.append(False)
                shown.append(None)
        pictures = [signature.result() for signature in pictures]
        shown = [_NOT_SHOWN if m is None else m.result() for m in shown]
    if image_size is None:
        raise InputError(f"{source_name} has no frames")
    det = np.asarray(detected, bool)
    landmarks = np.stack(landmarks)
    brief = (brief_detections(det, opts.min_face_run, face_jumps(landmarks, det)) if video
             else np.zeros_like(det))
    if brief.any():
        log.warning("%s: a face in only %d scattered frame(s) (%s); taken for false detections and dropped",
                    source_name, int(brief.sum()), frame_list(np.flatnonzero(brief), 8))
        det = det & ~brief
        shown = [_NOT_SHOWN if b else m for m, b in zip(shown, brief)]
    if not det.any():
        raise NoFaceError(f"no face found in {source_name}; use a clearer, frontal, well-lit face "
                          "that fills a good part of the picture")
    if not det.all():
        gaps = runs(~det)   # (start, length) of every run of frames without a face
        missing = int((~det).sum())
        longest = max(length for _, length in gaps)
        log.warning("%s: no face in %d of %d frames (%d gap(s), longest %d); filled by interpolation%s",
                    source_name, missing, len(det), len(gaps), longest,
                    "" if longest <= opts.max_gap else f" — gaps over {opts.max_gap} frames may look frozen")
    cuts = np.zeros(len(det), bool) if video else None
    if video and opts.cut_threshold < 1:   # a cut in the picture, or the face found elsewhere: another face
        # (the jumps again: a false detection dropped above no longer makes one)
        cuts = shot_starts(np.stack(pictures), opts.cut_threshold) | face_jumps(landmarks, det)
    if cuts is not None and cuts.any():
        log.info("%s: %d cut(s), at frame(s) %s; motion is measured and smoothed shot by shot",
                 source_name, int(cuts.sum()), frame_list(np.flatnonzero(cuts), 8))
    lms = _fill_gaps(landmarks, det).astype(np.float32)
    bss = _fill_gaps(np.stack(blends), det).astype(np.float32)
    tfs = _fill_gaps(np.stack(transforms), det).astype(np.float32)
    boxes = _crop_boxes(lms, opts, video, (int(image_size[0]), int(image_size[1])), cuts)
    return FaceTrack(
        landmarks=lms, blendshapes=bss, transforms=tfs, boxes=corner_boxes(boxes),
        crop_transforms=crop_transforms(boxes, opts.crop_size), detected=det,
        image_size=(int(image_size[0]), int(image_size[1])), crop_size=opts.crop_size, fps=float(fps),
        mouth=np.asarray([m for m, _ in shown], np.float32), eyes=np.asarray([e for _, e in shown], np.float32),
        cuts=cuts,
    )


def _crop_boxes(landmarks: np.ndarray, opts: FaceOptions, video: bool, image_size: tuple[int, int],
                cuts: np.ndarray | None = None) -> np.ndarray:
    """(T, 3) centre/side crop boxes by the configured rule (faces/crop.py), smoothed within each
    shot (`cuts`: a crop does not slide towards where the face will be after a cut)."""
    if opts.crop_rule not in ("auto", "landmarks", "official"):
        raise InputError(f"unknown faces.crop_rule {opts.crop_rule!r}; choose auto, landmarks or official")
    if opts.crop_rule == "official":
        boxes = official_boxes(detector_box_from_landmarks(landmarks))
    else:
        boxes = each_shot(lambda part: smooth_boxes(part, opts.box_smoothing), landmark_boxes(landmarks, opts.crop_scale),
                          shot_ids(cuts))
    cropped = str(opts.source_is_cropped).lower()
    if not video and (cropped in ("yes", "true", "1") or (cropped == "auto" and opts.crop_rule == "official"
                                                          and is_already_cropped(boxes[0], image_size))):
        h, w = image_size
        boxes = np.tile(np.array([w / 2, h / 2, float(max(h, w))]), (len(boxes), 1))
    return boxes


def detect_in_file(path, options: FaceOptions | None = None, max_frames: int | None = None,
                   progress=None) -> FaceTrack:
    """Face track of an image (one frame, fps 0) or a video file."""
    from ..io.images import is_image_path, read_image
    from ..io.prefetch import prefetched
    from ..io.video import VideoReader

    if is_image_path(path):
        return detect_faces([read_image(path)], 0.0, options, video=False, source_name=str(path))
    reader = VideoReader(Path(path), max_frames)
    info = reader.info
    total = info.frame_count if max_frames is None else min(info.frame_count, max_frames)
    # the clip decoded while MediaPipe reads the frames before
    track = detect_faces(prefetched(iter(reader), name="decode"), info.fps, options,
                         video=True, total=total or None, progress=progress, source_name=str(path))
    return replace(track, times=np.asarray(reader.timestamps, np.float64))
