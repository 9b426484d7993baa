"""Reading videos as a stream of RGB frames, with decord when present and PyAV otherwise."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import av
import numpy as np

from ..errors import InputError
from .paths import require_input_file

VIDEO_SUFFIXES = {".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".gif", ".mpg", ".mpeg", ".wmv", ".flv"}


def is_video_path(path: str | Path) -> bool:
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


@dataclass(frozen=True)
class VideoInfo:
    path: Path
    fps: float
    frame_count: int   # from the container; may be an estimate for streams without an index
    width: int
    height: int
    has_audio: bool

    @property
    def duration(self) -> float:
        return self.frame_count / self.fps if self.fps > 0 else 0.0


def probe_video(path: str | Path) -> VideoInfo:
    path = require_input_file(path, "video")
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise InputError(f"{path} has no video stream")
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate or Fraction(25)
            fps = float(rate)
            frames = int(stream.frames or 0)
            if frames <= 0 and stream.duration is not None and stream.time_base is not None:
                frames = int(round(float(stream.duration * stream.time_base) * fps))
            if frames <= 0 and container.duration:
                frames = int(round(container.duration / av.time_base * fps))
            width, height = stream.codec_context.width, stream.codec_context.height
            has_audio = bool(container.streams.audio)
    except InputError:
        raise
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise InputError(f"{path} is not a readable video ({exc.__class__.__name__}: {exc}); "
                         "check the file is complete, or re-encode it to H.264 mp4") from None
    if width <= 0 or height <= 0:
        raise InputError(f"{path}: video stream has no frame size; the file may be corrupt")
    return VideoInfo(path=path, fps=fps, frame_count=frames, width=width, height=height, has_audio=has_audio)


def _frames_av(path: Path, max_frames: int | None) -> Iterator[np.ndarray]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for i, frame in enumerate(container.decode(stream)):
            if max_frames is not None and i >= max_frames:
                return
            yield frame.to_ndarray(format="rgb24")


def _frames_decord(path: Path, max_frames: int | None, chunk: int) -> Iterator[np.ndarray]:
    import decord

    reader = decord.VideoReader(str(path), ctx=decord.cpu(0), num_threads=2)
    n = len(reader) if max_frames is None else min(len(reader), max_frames)
    for start in range(0, n, chunk):
        batch = reader.get_batch(list(range(start, min(n, start + chunk)))).asnumpy()
        yield from batch


def iter_frames(path: str | Path, max_frames: int | None = None, backend: str = "auto",
                chunk: int = 16) -> Iterator[np.ndarray]:
    """Yield (H, W, 3) uint8 RGB frames one at a time; memory does not grow with video length.

    Raises InputError for files that decode to no frames or break off in the middle.
    """
    info = probe_video(path)
    use_decord = backend == "decord" or (backend == "auto" and _decord_available() and info.path.suffix.lower() != ".gif")
    count = 0
    try:
        frames = _frames_decord(info.path, max_frames, chunk) if use_decord else _frames_av(info.path, max_frames)
        for frame in frames:
            count += 1
            yield frame
    except InputError:
        raise
    except Exception as exc:  # decoders raise many types (DECORDError, av errors, RuntimeError)
        if count == 0 and use_decord:
            yield from _frames_av_checked(info.path, max_frames)
            return
        raise InputError(f"{info.path}: decoding failed after {count} frames ({exc.__class__.__name__}); "
                         "the file may be truncated or corrupt") from None
    if count == 0:
        raise InputError(f"{info.path} contains no decodable video frames")


def _frames_av_checked(path: Path, max_frames: int | None) -> Iterator[np.ndarray]:
    count = 0
    try:
        for frame in _frames_av(path, max_frames):
            count += 1
            yield frame
    except av.error.FFmpegError as exc:
        raise InputError(f"{path}: decoding failed after {count} frames ({exc}); the file may be corrupt") from None
    if count == 0:
        raise InputError(f"{path} contains no decodable video frames")


_DECORD: bool | None = None


def _decord_available() -> bool:
    global _DECORD
    if _DECORD is None:
        try:
            import decord  # noqa: F401
            _DECORD = True
        except ImportError:
            _DECORD = False
    return _DECORD
