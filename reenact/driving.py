"""The driving input, opened once: a video, an image, a bundled preset, or a saved head track.

It knows its kind, is probed once (frame rate, audio), hashed once (the track cache key) and, a
still image, read once (its face is found in it and the generator lays its mouth out from it), so
no stage has to look at the file again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import InputError
from .faces.presets import parse_preset
from .io.images import is_image_path
from .io.paths import require_input_file


@dataclass
class DrivingSource:
    kind: str                          # video | image | preset | track
    spec: str                          # what the user gave
    path: Path | None = None           # None for a preset
    preset: str | None = None
    _info: Any = field(default=None, repr=False)
    _digest: str | None = field(default=None, repr=False)
    _picture: Any = field(default=None, repr=False)

    @classmethod
    def open(cls, spec: str | Path) -> "DrivingSource":
        preset = parse_preset(str(spec))
        if preset:
            return cls("preset", str(spec), preset=preset)
        path = require_input_file(spec, "driving")
        if path.suffix.lower() == ".npz":
            return cls("track", str(spec), path)
        if is_image_path(path):
            return cls("image", str(spec), path)
        return cls("video", str(spec), path)

    @property
    def info(self):
        """The video's stream facts (probed once); None for other kinds."""
        if self.kind == "video" and self._info is None:
            from .io.video import probe_video

            self._info = probe_video(self.path)
        return self._info

    @property
    def has_audio(self) -> bool:
        return self.kind == "video" and bool(self.info.has_audio)

    def fps(self, requested: float | None) -> float:
        """The output frame rate: the one asked for, else the video's own, else 25."""
        if requested:
            return float(requested)
        if self.kind == "video" and self.info.fps:
            return float(self.info.fps)
        return 25.0

    def picture(self, max_megapixels: float):
        """A still driving image's RGB pixels (read once, as `io.images.read_image` reads them)."""
        if self.kind != "image":
            raise InputError(f"the driving {self.spec} is not an image")
        if self._picture is None:
            from .io.images import read_image

            self._picture = read_image(self.path, max_megapixels)
        return self._picture

    def digest(self) -> str:
        """sha256 of the file's content (computed once), for the track cache."""
        if self.path is None:
            raise InputError("a preset has no file to hash")
        if self._digest is None:
            from .cache import file_digest

            self._digest = file_digest(self.path)
        return self._digest

    @property
    def inputs(self) -> list[Path]:
        return [self.path] if self.path is not None else []
