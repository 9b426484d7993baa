"""Reading videos as a stream of upright RGB frames, with PyAV (FFmpeg) as the decoder (Pillow for
the animated pictures FFmpeg cannot read: io/animation.py).

Frames are pulled one at a time: the decoder never runs ahead of the consumer by more than
FFmpeg's own few-frame thread queue, so memory does not grow with clip length however slow the
face detector is. The container's display matrix (phone clips filmed upright, mirrored selfie
clips) is applied, quarter turns and flips as FFmpeg's own player applies them, each
frame's timestamp is kept, and a stream that breaks off or has damaged packets is decoded as far
as FFmpeg can, with one warning that says how many frames came out.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import av
import av.logging
import numpy as np
from av.sidedata.sidedata import Type as SideDataType

from ..errors import InputError
from .animation import frame_durations, frame_size, frame_starts, iter_animation, read_by_pillow
from .images import is_animated_picture
from .memory import TRIM_EVERY, release_free_heap
from .paths import require_input_file

log = logging.getLogger("reenact")

VIDEO_SUFFIXES = {".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".gif", ".mpg", ".mpeg", ".wmv", ".flv"}

# FFmpeg's own log lines (hundreds for a damaged stream) are not for users: damage is reported
# once, as a warning with the frame count, by VideoReader.
av.logging.set_level(None)

# a frame interval further than this from the average marks a variable-frame-rate stream
_VFR_TOLERANCE = 0.25


def is_video_path(path: str | Path) -> bool:
    """A video suffix, or an animated picture (GIF, WebP, PNG)."""
    return Path(path).suffix.lower() in VIDEO_SUFFIXES or is_animated_picture(path)


@dataclass(frozen=True)
class VideoInfo:
    path: Path
    fps: float          # the average frame rate (see VideoReader.timestamps for the real times)
    frame_count: int    # from the container; may be an estimate for streams without an index
    width: int          # as displayed, i.e. after the rotation below
    height: int
    has_audio: bool
    rotation: int = 0   # counter-clockwise degrees the stored frames are turned to be shown upright
    mirrored: bool = False  # the display matrix also flips them (a determinant below zero)

    @property
    def duration(self) -> float:
        return self.frame_count / self.fps if self.fps > 0 else 0.0


def probe_video(path: str | Path) -> VideoInfo:
    """Frame rate, count, displayed size and audio of a video; InputError if it cannot be read."""
    path = require_input_file(path, "video")
    if read_by_pillow(path):
        durations = frame_durations(path)
        width, height = frame_size(path)
        return VideoInfo(path=path, fps=1.0 / float(np.median(durations)), frame_count=len(durations),
                         width=width, height=height, has_audio=False)
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
            # the display matrix is side data of the decoded frame in PyAV: decode the first one
            rotation, orientation = _first_frame_orientation(container, stream)
    except InputError:
        raise
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise InputError(f"{path} is not a readable video ({exc.__class__.__name__}: {exc}); "
                         "check the file is complete, or re-encode it to H.264 mp4") from None
    if width <= 0 or height <= 0:
        raise InputError(f"{path}: video stream has no frame size; the file may be corrupt")
    if orientation.transpose:
        width, height = height, width
    return VideoInfo(path=path, fps=fps, frame_count=frames, width=width, height=height,
                     has_audio=has_audio, rotation=rotation, mirrored=orientation.mirrored)


@dataclass(frozen=True)
class Orientation:
    """How stored pixels are laid out for display: an optional transpose, then row / column flips."""

    transpose: bool = False
    flip_rows: bool = False
    flip_cols: bool = False

    @property
    def mirrored(self) -> bool:
        """A reflection (not only a rotation): determinant of the display matrix below zero."""
        return self.transpose != (self.flip_rows != self.flip_cols)

    def apply(self, image: np.ndarray) -> np.ndarray:
        if self == UPRIGHT:
            return image
        if self.transpose:
            image = image.transpose(1, 0, 2)
        return np.ascontiguousarray(image[:: -1 if self.flip_rows else 1, :: -1 if self.flip_cols else 1])


UPRIGHT = Orientation()


def display_orientation(matrix) -> Orientation:
    """The quarter turn and flips of an FFmpeg display matrix (9 int32, AV_FRAME_DATA_DISPLAYMATRIX).

    FFmpeg's matrix takes a stored pixel (x right, y down) to its displayed place:
    x' = a x + c y, y' = b x + d y (plus a shift), with a, b, c, d its elements 0, 1, 3, 4.
    A matrix that is not a multiple of a quarter turn is taken to the nearest one.
    """
    m = np.asarray(matrix, np.float64).reshape(-1)
    if m.size < 5 or not np.isfinite(m[:5]).all():
        return UPRIGHT
    a, b, c, d = m[0], m[1], m[3], m[4]
    if abs(a) + abs(d) >= abs(b) + abs(c):            # displayed x from stored x, y from y
        return Orientation(False, flip_rows=bool(d < 0), flip_cols=bool(a < 0))
    # displayed x from stored y (the transposed image's columns), displayed y from stored x
    return Orientation(True, flip_rows=bool(b < 0), flip_cols=bool(c < 0))


def _frame_orientation(frame: av.VideoFrame) -> Orientation:
    data = frame.side_data.get(SideDataType.DISPLAYMATRIX)
    if data is None:
        return UPRIGHT
    return display_orientation(np.frombuffer(bytes(data), dtype=np.int32)[:9])


def _first_frame_orientation(container, stream) -> tuple[int, Orientation]:
    """(counter-clockwise degrees of FFmpeg's display-matrix angle, the full orientation)."""
    try:
        for frame in container.decode(stream):
            try:
                degrees = int(round(float(frame.rotation or 0) / 90.0)) % 4 * 90
            except (ValueError, TypeError):
                degrees = 0
            return degrees, _frame_orientation(frame)
    except av.error.FFmpegError:
        pass  # a damaged start is reported by the reader, with the frame count
    return 0, UPRIGHT


@dataclass
class VideoReader:
    """Iterate a video's frames as upright (H, W, 3) uint8 RGB arrays, one at a time.

    After (or during) iteration: `timestamps` holds each frame's time in seconds, `count` the
    frames delivered, `damaged` whether FFmpeg had to skip or stop on bad data.
    """

    path: Path
    max_frames: int | None = None
    timestamps: list[float] = field(default_factory=list)
    damaged: bool = False

    def __post_init__(self) -> None:
        self.info = probe_video(self.path)
        self.path = self.info.path

    @property
    def count(self) -> int:
        return len(self.timestamps)

    def __iter__(self) -> Iterator[np.ndarray]:
        if self.max_frames is not None and self.max_frames <= 0:
            return
        self.timestamps, self.damaged = [], False
        if read_by_pillow(self.path):
            starts = frame_starts(self.path)
            for image in iter_animation(self.path, self.max_frames):
                self.timestamps.append(float(starts[self.count]))
                yield image
            self._report(0)
            return
        bad_packets = 0
        with av.open(str(self.path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            time_base = stream.time_base or Fraction(1, 1)
            packets = container.demux(stream)
            while True:
                try:
                    packet = next(packets)
                except StopIteration:
                    break
                except av.error.FFmpegError:  # the container itself breaks off: drain the decoder
                    self.damaged = True
                    packet = None
                try:
                    frames = packet.decode() if packet is not None else stream.codec_context.decode(None)
                except av.error.FFmpegError:  # one damaged packet: skip it, as ffmpeg does
                    bad_packets += 1
                    frames = []
                for frame in frames:
                    image = _frame_orientation(frame).apply(frame.to_ndarray(format="rgb24"))
                    t = float(frame.pts * time_base) if frame.pts is not None else self.count / max(self.info.fps, 1e-6)
                    self.timestamps.append(t)
                    if self.count % TRIM_EVERY == 0:
                        release_free_heap()
                    yield image
                    if self.max_frames is not None and self.count >= self.max_frames:
                        return
                if packet is None:
                    break
        self.damaged = self.damaged or bad_packets > 0
        release_free_heap()  # the decoded frames are gone: their pages go back before the next stage
        self._report(bad_packets)

    def _report(self, bad_packets: int) -> None:
        if self.count == 0:
            raise InputError(f"{self.path} contains no decodable video frames; the file may be truncated or corrupt")
        expected = self.info.frame_count
        if self.damaged or (expected and self.count < expected and self.max_frames is None):
            damage = f", {bad_packets} damaged packet(s) skipped" if bad_packets else ""
            of = f" of the {expected} the container lists" if expected else ""
            log.warning("warning: %s is truncated or damaged: decoded %d frame(s)%s%s; the run uses those",
                        self.path, self.count, of, damage)
        if not self.damaged and self.variable_rate():
            intervals = np.diff(self.timestamps)
            log.info("%s has a variable frame rate (%.1f to %.1f fps, %.2f on average)",
                     self.path.name, 1.0 / intervals.max(), 1.0 / max(intervals.min(), 1e-6), self.average_fps())

    def average_fps(self) -> float:
        """Frames per second over the decoded span (the container's average when under 2 frames)."""
        if self.count < 2 or self.timestamps[-1] <= self.timestamps[0]:
            return self.info.fps
        return (self.count - 1) / (self.timestamps[-1] - self.timestamps[0])

    def variable_rate(self) -> bool:
        return is_variable_rate(self.timestamps)


def is_variable_rate(times) -> bool:
    """Whether a stream's frame intervals (`times`: each frame's time, seconds) stray more than 25 %
    from their mean."""
    if len(times) < 3:
        return False
    intervals = np.diff(np.asarray(times, np.float64))
    mean = float(intervals.mean())
    return mean > 0 and float(np.abs(intervals - mean).max()) > _VFR_TOLERANCE * mean


def frame_times(path: str | Path, max_frames: int | None = None) -> np.ndarray | None:
    """(N,) the first `max_frames` frames' presentation times in seconds, from the packets alone
    (nothing decoded; a damaged packet counts as its frame); None where a packet has no time."""
    if read_by_pillow(path):
        return frame_starts(path)[:max_frames]
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        pts = [packet.pts for packet in container.demux(stream) if packet.size]
    if not pts or any(p is None for p in pts):
        return None
    return np.sort(np.asarray(pts, np.float64))[:max_frames] * float(stream.time_base or 1)


def iter_frames(path: str | Path, max_frames: int | None = None) -> Iterator[np.ndarray]:
    """Yield upright (H, W, 3) uint8 RGB frames one at a time; memory does not grow with video length.

    Raises InputError for files that decode to no frames; a stream that breaks off in the middle
    gives the frames before the break and one warning.
    """
    yield from VideoReader(Path(path), max_frames)
