"""A content-addressed cache for driving tracks, so a second run with another source or engine
skips landmarks and tracking."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any


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

    def get(self, key: str, kind: str) -> Path | None:
        p = self.path(key, kind)
        return p if self.enabled and p.is_file() else None

    def put(self, key: str, kind: str, saver) -> Path | None:
        """`saver(file_object)` writes the entry; failures to cache never fail the run."""
        if not self.enabled:
            return None
        from .io.paths import atomic_path

        try:
            with atomic_path(self.path(key, kind)) as tmp:
                with open(tmp, "wb") as fh:
                    saver(fh)
        except OSError:
            return None
        return self.path(key, kind)
