"""Writing frames as an H.264 mp4 (optionally with another file's audio), an animated GIF or
WebP (a sticker, a meme), or a PNG sequence."""

from __future__ import annotations

import contextlib
from fractions import Fraction
from pathlib import Path
from typing import Iterable, Iterator

import av
import numpy as np
from PIL import Image

from ..errors import OutputError
from .images import HEIF_SUFFIXES, IMAGE_SUFFIXES
from .memory import TRIM_EVERY, release_free_heap
from .paths import atomic_path, release_scratch, scratch_path

VIDEO_OUT_SUFFIXES = (".mp4", ".mov", ".m4v")
ANIMATED_OUT_SUFFIXES = (".gif", ".webp")     # pictures that play: no sound, GIF in 256 colours
OUTPUTS = (f"a {', '.join(VIDEO_OUT_SUFFIXES)} video, an animated {' or '.join(ANIMATED_OUT_SUFFIXES)}, "
           "or a folder name for PNG frames")


def output_format(path: str | Path, still: bool = False) -> str:
    """"video", "animation" (a GIF or WebP that plays), "frames" (a PNG folder) or "image" for an
    output name; OutputError for anything else.

    Called before any work, so a wrong name costs nothing. `still`: the driving is one image,
    the only case where an image file can hold the result.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in VIDEO_OUT_SUFFIXES:
        return "video"
    if suffix in ANIMATED_OUT_SUFFIXES and not still:
        return "animation"
    if suffix == "":
        return "frames"
    if suffix in IMAGE_SUFFIXES - HEIF_SUFFIXES:     # read, never written (the encoder's licence)
        if not still:
            raise OutputError(f"output {path.name} is an image, but the driving has many frames; use "
                              f"{path.stem}.mp4 for a video, {path.stem}.gif or .webp for an animated picture, "
                              f"or {path.stem}/ for a folder of PNG frames")
        return "image"
    # `-o frames_0.5/`: the slash is gone by now, and ".5" reads as a suffix
    folder = f"; a folder's name takes no dot ({path.name.replace('.', '_')})" if suffix[1:].isdigit() else ""
    raise OutputError(f"unsupported output {path.name}: use {OUTPUTS}"
                      + (" (or an image file for a still driving)" if still else "") + folder)


def _even_pad(frame: np.ndarray) -> np.ndarray:
    """yuv420p needs even sides: pad by edge replication rather than crop the picture."""
    h, w = frame.shape[:2]
    if h % 2 == 0 and w % 2 == 0:
        return frame
    return np.pad(frame, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")


# A warped face moves by fractions of a pixel from frame to frame. x264's defaults let the frames
# nothing predicts from (three B-frames of every four at the "fast" preset) lose what its macroblock
# tree sees as not carried forward: grain, pores, halftone, line art. On Einstein's grainy photo
# turned by a shared clip the warp kept the face's fine detail (Laplacian variance over the photo's,
# both through this writer) at 0.97 in every frame; the video showed 0.94 in every fourth frame and
# 0.72-0.77 in the others, grain that pulsed six times a second. Psycho-visual trellis (psy-rd's
# second figure), a weaker macroblock tree (qcomp 0.8, x264's default 0.6) and weaker adaptive
# quantisation (0.5, default 1) show 0.95 and 0.86-0.89 (median 0.81 -> 0.95; x264's tune=grain
# alike) for files 9-43% larger at crf 18 and no measurable encoding time. Still parts of the
# picture are re-coded less than with psy-trellis alone (0.05-0.07 grey levels against 0.13-0.27;
# tune=grain 0.22-0.42).
X264_OPTIONS = {"preset": "fast", "psy-rd": "1.0:0.25", "qcomp": "0.8", "aq-strength": "0.5"}


class _EncodedWriter:
    """Incremental writer of one PyAV-encoded video stream into an already-chosen (temporary) path."""

    container_format = ""

    def __init__(self, path: Path, fps: float, options: dict[str, str] | None = None):
        self.path = path
        self.fps = Fraction(fps).limit_denominator(1001)
        self.container = av.open(str(path), mode="w", format=self.container_format, options=options or {})
        self.stream = None
        self.frames = 0

    def _add_stream(self, height: int, width: int):
        raise NotImplementedError

    def _video_frame(self, frame: np.ndarray) -> av.VideoFrame:
        return av.VideoFrame.from_ndarray(frame, format="rgb24")

    def _prepare(self, frame: np.ndarray) -> np.ndarray:
        return frame

    def write(self, frame: np.ndarray) -> None:
        frame = self._prepare(np.ascontiguousarray(frame, dtype=np.uint8))
        if self.stream is None:
            self.stream = self._add_stream(*frame.shape[:2])
        elif frame.shape[:2] != (self.stream.height, self.stream.width):
            raise OutputError(f"frame size changed mid-video ({frame.shape[1]}x{frame.shape[0]})")
        video_frame = self._video_frame(frame)
        video_frame.pts = self.frames
        video_frame.time_base = 1 / self.fps
        for packet in self.stream.encode(video_frame):
            self.container.mux(packet)
        self.frames += 1
        if self.frames % TRIM_EVERY == 0:
            release_free_heap()

    def close(self) -> None:
        if self.stream is not None:
            for packet in self.stream.encode():
                self.container.mux(packet)
        self.container.close()

    def abort(self) -> None:
        """Close without flushing the encoder: the file is about to be removed."""
        with contextlib.suppress(Exception):
            self.container.close()


class Mp4Writer(_EncodedWriter):
    """H.264/yuv420p, and the audio of `audio_from` added once the video is complete."""

    container_format = "mp4"

    def __init__(self, path: Path, fps: float, crf: int = 18, audio_from: Path | None = None):
        super().__init__(path, fps)
        self.crf = crf
        self.audio_from = audio_from

    def _prepare(self, frame: np.ndarray) -> np.ndarray:
        return _even_pad(frame)

    def _add_stream(self, height: int, width: int):
        stream = self.container.add_stream("libx264", rate=self.fps)
        stream.height, stream.width = height, width
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(self.crf), **X264_OPTIONS}
        return stream

    def close(self) -> None:
        super().close()
        if self.audio_from is not None and self.frames:
            _mux_audio(self.path, self.audio_from, duration=self.frames / float(self.fps))


# An animated WebP at libwebp's quality 90 (lossy; sharp RGB in, no chroma halved beforehand): d19's
# 40 frames at 480 px differ from the frames by 1.3 grey levels on average, in 0.4 MB.
WEBP_QUALITY = 90


class WebpWriter(_EncodedWriter):
    """An animated WebP that loops forever."""

    container_format = "webp"

    def __init__(self, path: Path, fps: float):
        super().__init__(path, fps, options={"loop": "0"})

    def _add_stream(self, height: int, width: int):
        stream = self.container.add_stream("libwebp_anim", rate=self.fps)
        stream.height, stream.width = height, width
        stream.pix_fmt = "bgra"
        stream.options = {"quality": str(WEBP_QUALITY)}      # the encoder takes the RGB frames to BGRA
        return stream


class GifWriter(_EncodedWriter):
    """An animated GIF that loops forever, every frame in the 256 colours of the first (error
    diffusion between them): a palette per frame would flicker what does not move. Pillow's fast
    octree palette: on Diana driven by d19, 1.2 grey levels off the frame once both are blurred to a
    quarter of their size (what the eye averages), median cut 1.6, at a tenth of its time."""

    container_format = "gif"

    def __init__(self, path: Path, fps: float):
        super().__init__(path, fps, options={"loop": "0"})
        self.palette: Image.Image | None = None
        self.argb: np.ndarray | None = None

    def _add_stream(self, height: int, width: int):
        stream = self.container.add_stream("gif", rate=self.fps)
        stream.height, stream.width = height, width
        stream.pix_fmt = "pal8"
        return stream

    def _video_frame(self, frame: np.ndarray) -> av.VideoFrame:
        picture = Image.fromarray(frame)
        if self.palette is None:
            self.palette = picture.quantize(256, method=Image.Quantize.FASTOCTREE)
            rgb = np.zeros((256, 3), np.uint8)
            colours = np.asarray(self.palette.getpalette()[:768], np.uint8).reshape(-1, 3)
            rgb[:len(colours)] = colours
            self.argb = np.concatenate([np.full((256, 1), 255, np.uint8), rgb], axis=1)   # PyAV's pal8 order
        indices = picture.quantize(palette=self.palette, dither=Image.Dither.FLOYDSTEINBERG)
        return av.VideoFrame.from_ndarray((np.asarray(indices), self.argb), format="pal8")


def _mux_audio(video_path: Path, audio_source: Path, duration: float) -> None:
    """Re-mux `video_path` with the first audio stream of `audio_source`, trimmed to `duration`.

    The audio is re-encoded to AAC so any source codec works in mp4.
    """
    with av.open(str(audio_source)) as src_audio:
        if not src_audio.streams.audio:
            return
        tmp = scratch_path(video_path, "mux")
        try:
            _copy_with_audio(video_path, src_audio, tmp, duration)
            tmp.replace(video_path)
        finally:
            release_scratch(tmp)


def _copy_with_audio(video_path: Path, src_audio, tmp: Path, duration: float) -> None:
    with av.open(str(video_path)) as src_video, av.open(str(tmp), "w", format="mp4") as out:
        vin = src_video.streams.video[0]
        vout = out.add_stream_from_template(vin)
        ain = src_audio.streams.audio[0]
        aout = out.add_stream("aac", rate=ain.codec_context.sample_rate or 44100)
        aout.layout = ain.codec_context.layout  # keep mono mono: an up-mix would lower the level
        for packet in src_video.demux(vin):
            if packet.dts is None:
                continue
            packet.stream = vout
            out.mux(packet)
        for frame in src_audio.decode(ain):
            if frame.time is not None and frame.time >= duration:
                break
            frame.pts = None
            for packet in aout.encode(frame):
                out.mux(packet)
        for packet in aout.encode():
            out.mux(packet)


def write_video(path: str | Path, frames: Iterable[np.ndarray], fps: float,
                audio_from: str | Path | None = None, crf: int = 18) -> Path:
    """Write frames atomically: an mp4 for a video suffix, an animated GIF or WebP for theirs (no
    sound), else a folder of numbered PNGs."""
    with open_writer(path, fps, audio_from=audio_from, crf=crf) as sink:
        for frame in frames:
            sink(frame)
    return Path(path)


@contextlib.contextmanager
def open_writer(path: str | Path, fps: float, audio_from: str | Path | None = None,
                crf: int = 18) -> Iterator:
    """Context manager yielding a `write(frame)` callable; the output appears only on success."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in VIDEO_OUT_SUFFIXES or suffix in ANIMATED_OUT_SUFFIXES:
        with atomic_path(path) as tmp:
            if suffix in VIDEO_OUT_SUFFIXES:
                writer = Mp4Writer(tmp, fps, crf=crf, audio_from=Path(audio_from) if audio_from else None)
            else:
                writer = (GifWriter if suffix == ".gif" else WebpWriter)(tmp, fps)
            try:
                yield writer.write
            except BaseException:
                writer.abort()
                raise
            writer.close()
            if writer.frames == 0:
                raise OutputError(f"no frames were produced for {path}")
    elif path.suffix == "":
        with atomic_path(path, is_dir=True) as tmp:
            counter = iter(range(10**9))

            def write_png(frame: np.ndarray) -> None:
                index = next(counter)
                Image.fromarray(np.ascontiguousarray(frame, dtype=np.uint8)).save(
                    tmp / f"{index:05d}.png", compress_level=1)
                if (index + 1) % TRIM_EVERY == 0:
                    release_free_heap()

            yield write_png
    else:
        raise OutputError(f"unsupported output {path}: use {OUTPUTS}")
