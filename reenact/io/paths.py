"""Input checks and atomic, non-clobbering output paths."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterable, Iterator

from ..errors import InputError, OutputError


def require_input_file(path: str | Path, what: str = "input") -> Path:
    path = Path(path).expanduser()
    if not path.exists():
        raise InputError(f"{what} file not found: {path}")
    if path.is_dir():
        raise InputError(f"{what} {path} is a directory; give a file")
    if not os.access(path, os.R_OK):
        raise InputError(f"{what} file {path} is not readable (check its permissions)")
    return path


def check_output(path: str | Path, inputs: Iterable[str | Path] = (), overwrite: bool = False) -> Path:
    """Refuse outputs that would replace an input, clobber a file, or land in an unwritable folder."""
    path = Path(path).expanduser()
    resolved = path.resolve()
    for inp in inputs:
        if inp is not None and Path(inp).expanduser().resolve() == resolved:
            raise OutputError(f"output {path} is the same file as an input; choose another output path")
    if path.exists() and not overwrite:
        raise OutputError(f"{path} already exists; pass --overwrite to replace it")
    parent = resolved.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK):
        raise OutputError(f"cannot write {path}: folder {parent} is not writable")
    return path


@contextlib.contextmanager
def atomic_path(path: str | Path, is_dir: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling of `path`; it replaces `path` only if the block succeeds."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create folder {path.parent}: {exc.strerror}") from None
    suffix = "" if is_dir else path.suffix
    try:
        if is_dir:
            tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent))
        else:
            fd, name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".part{suffix}", dir=path.parent)
            os.close(fd)
            tmp = Path(name)
    except OSError as exc:
        raise OutputError(f"cannot write in {path.parent}: {exc.strerror}") from None
    try:
        yield tmp
        # temporary files are private (0600); the output gets the permissions a plain write would
        os.chmod(tmp, (0o777 if is_dir else 0o666) & ~_umask())
        if is_dir and path.is_dir():
            shutil.rmtree(path)
        os.replace(tmp, path)
    except BaseException:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
