"""A content-addressed, self-healing cache for driving tracks, so a second run with another source
or engine skips landmarks and tracking.

Each entry is one file: a header line with a format tag and the SHA-256 of the payload, then the
payload (an .npz written by the track's own `save`). An entry that is truncated, emptied, flipped
by one bit, or not a track at all is dropped with a one-line note and recomputed; it never fails
the run. Entries are written to a temporary name and renamed, so concurrent runs sharing the
cache never read a half-written one.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import logging
from pathlib import Path
from typing import Any, Callable, TypeVar

from .errors import OutputError, ReenactError

log = logging.getLogger("reenact")

T = TypeVar("T")

_MAGIC = b"reenact-cache 1 sha256="
_HEADER_LEN = len(_MAGIC) + 64 + 1  # tag, hex digest, newline


# The code that makes a cached entry: a track made by an older landmark or tracking stage must
# not come back after the code changed (a fix to the tracker was invisible on a clip run before).
TRACK_CODE = ("faces", "tracking", "flame")


@functools.lru_cache(maxsize=None)
def code_digest(packages: tuple[str, ...] = TRACK_CODE, root: Path | None = None) -> str:
    """SHA-256 of the Python sources of these subpackages of reenact (`root`: its folder) and of
    the package version."""
    from . import __version__

    root = root or Path(__file__).resolve().parent
    h = hashlib.sha256(__version__.encode())
    for package in packages:
        for source in sorted((root / package).rglob("*.py")):
            h.update(source.relative_to(root).as_posix().encode())
            h.update(source.read_bytes())
    return h.hexdigest()


def file_digest(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


class TrackCache:
    """Files under `root`, keyed by an input file's content and the settings that shaped the result."""

    def __init__(self, root: str | Path, enabled: bool = True):
        self.root = Path(root)
        self.enabled = enabled

    def key(self, path: str | Path, settings: dict[str, Any], digest: str | None = None) -> str:
        """The entry for a file's content (`digest`, when already known) and its settings."""
        blob = json.dumps({"file": digest or file_digest(path), "settings": settings}, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:32]

    def path(self, key: str, kind: str) -> Path:
        return self.root / f"{key}.{kind}.npz"

    def load(self, key: str, kind: str, loader: Callable[[io.BytesIO], T]) -> T | None:
        """The cached object, or None when absent or unusable (then the bad entry is removed)."""
        p = self.path(key, kind)
        if not self.enabled or not p.is_file():
            return None
        try:
            blob = p.read_bytes()
        except OSError as exc:
            self._drop(p, f"unreadable: {exc.strerror}")
            return None
        header, payload = blob[:_HEADER_LEN], blob[_HEADER_LEN:]
        if not header.startswith(_MAGIC) or not header.endswith(b"\n"):
            self._drop(p, "not a reenact cache entry" if blob else "empty")
            return None
        if hashlib.sha256(payload).hexdigest().encode() != header[len(_MAGIC):-1]:
            self._drop(p, "checksum mismatch: truncated or damaged")
            return None
        try:
            return loader(io.BytesIO(payload))
        except (ReenactError, OSError, ValueError, KeyError, TypeError, EOFError) as exc:
            self._drop(p, f"unreadable track ({exc.__class__.__name__})")
            return None

    def put(self, key: str, kind: str, saver: Callable[[io.BytesIO], None]) -> Path | None:
        """`saver(file_object)` writes the entry; failures to cache never fail the run."""
        if not self.enabled:
            return None
        from .io.paths import atomic_path

        buffer = io.BytesIO()
        saver(buffer)
        payload = buffer.getvalue()
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            with atomic_path(self.path(key, kind)) as tmp:
                with open(tmp, "wb") as fh:
                    fh.write(_MAGIC + hashlib.sha256(payload).hexdigest().encode() + b"\n")
                    fh.write(payload)
        except (OSError, OutputError) as exc:
            log.info("track cache: could not store %s (%s); the next run tracks again", self.path(key, kind).name, exc)
            return None
        return self.path(key, kind)

    def _drop(self, path: Path, why: str) -> None:
        log.info("track cache: dropped %s (%s); recomputing it", path.name, why)
        try:
            path.unlink()
        except OSError:
            pass
