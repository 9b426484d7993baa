"""Input checks and output paths that never destroy what reenact did not write.

Every output is built under a hidden temporary name next to its final place and swapped in only
when complete; an old output is removed only after the new one is in place. A folder output is
replaced only when it is empty or holds nothing but what an earlier reenact run wrote there (the
manifest below lists those files). The current folder, an input, a folder holding an input, the
home folder and `/` are never an output. One run at a time may write a given output: a second one
fails at once on the output's lock instead of silently racing the first.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterable, Iterator, Literal

from ..errors import InputError, OutputError

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; concurrent runs are the user's business there
    fcntl = None

MANIFEST = ".reenact-output.json"   # in a folder output: the files reenact wrote there
OutputKind = Literal["file", "folder", "into"]

# errors that mean "the disk or the filesystem refused", told as such rather than as a crash
_WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO, errno.EFBIG, errno.EACCES, errno.EPERM}


def require_input_file(path: str | Path, what: str = "input") -> Path:
    path = Path(path).expanduser()
    if not path.exists():
        raise InputError(f"{what} file not found: {path}")
    if path.is_dir():
        raise InputError(f"{what} {path} is a directory; give a file")
    if not os.access(path, os.R_OK):
        raise InputError(f"{what} file {path} is not readable (check its permissions)")
    return path


# ------------------------------------------------------------------------ inputs never written over

_protected: set[Path] = set()


def protect(*paths: str | Path | None) -> None:
    """Mark input files (a --config file, say) that no output of this process may replace or hold."""
    for p in paths:
        if p is not None and str(p) and not str(p).startswith("preset:"):
            _protected.add(Path(p).expanduser().resolve())


def unprotect_all() -> None:
    _protected.clear()


def _refuse_protected(path: Path, inputs: Iterable[Path]) -> None:
    """OutputError if writing `path` could replace an input, the current folder or a folder above one."""
    resolved = path.resolve()
    cwd = Path.cwd().resolve()
    if resolved == cwd or resolved in cwd.parents:
        raise OutputError(f"output {path} is the current folder (or above it); give a new file or folder name")
    if resolved == Path.home().resolve() or resolved == Path(resolved.anchor):
        raise OutputError(f"output {path} is your home folder or the root; give a new file or folder name")
    for inp in inputs:
        if resolved == inp:
            raise OutputError(f"output {path} is the same file as an input; choose another output path")
        if resolved in inp.parents:
            raise OutputError(f"output {path} holds the input {inp}; choose another output path")


def _inputs(inputs: Iterable[str | Path | None]) -> list[Path]:
    paths = [Path(p).expanduser().resolve() for p in inputs if p is not None and not str(p).startswith("preset:")]
    return paths + sorted(_protected)


def check_output(path: str | Path, inputs: Iterable[str | Path | None] = (), overwrite: bool = False,
                 kind: OutputKind | None = None, owned: Iterable[str] = ()) -> Path:
    """Refuse, before any work, an output that would destroy something, then lock it for this run.

    kind: "file" (one file replaced as a whole), "folder" (a folder replaced as a whole, e.g. PNG
    frames; default for a name without suffix) or "into" (a folder that receives named entries and
    keeps the rest). owned: names in a folder output that are known to be reenact's own beyond its
    manifest (e.g. a converted-weights layout).
    """
    path = Path(path).expanduser()
    kind = kind or ("folder" if path.suffix == "" else "file")
    inputs = _inputs(inputs)
    _refuse_protected(path, inputs)
    if path.is_symlink() and not path.exists():
        raise OutputError(f"output {path} is a broken symbolic link; remove it or choose another name")
    if path.exists():
        if kind == "file" and path.is_dir():
            raise OutputError(f"output {path} is an existing folder; give a file name (e.g. {path.name}/out.mp4)")
        if kind != "file" and not path.is_dir():
            raise OutputError(f"output {path} is an existing file, not a folder; choose another name")
        if kind == "into":
            pass  # the writer refuses the entries it would replace unless overwrite
        elif not overwrite:
            raise OutputError(f"{path} already exists; pass --overwrite to replace it")
        elif kind == "folder" and not replaceable_folder(path, owned):
            raise OutputError(f"{path} holds files reenact did not write; refusing to replace it even with "
                              "--overwrite (empty it or choose another folder)")
    parent = path.resolve().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK):
        raise OutputError(f"cannot write {path}: folder {parent} is not writable")
    lock_output(path)
    return path


def replaceable_folder(path: Path, owned: Iterable[str] = ()) -> bool:
    """True if the folder is empty or holds only files its manifest (or `owned`) lists."""
    listed = set(owned)
    manifest = path / MANIFEST
    if manifest.is_file():
        try:
            listed |= set(json.loads(manifest.read_text()).get("files", []))
        except (OSError, ValueError, AttributeError):
            return False
    for entry in path.rglob("*"):
        if entry.is_symlink() or entry.is_file():
            rel = entry.relative_to(path).as_posix()
            if rel != MANIFEST and rel not in listed:
                return False
        elif not entry.is_dir():
            return False
    return True


def _write_manifest(folder: Path) -> None:
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    (folder / MANIFEST).write_text(json.dumps({"written_by": "reenact", "files": files}, indent=0))


# ----------------------------------------------------------------------------------------- locks

_locks: dict[Path, tuple[int, Path]] = {}


def _lock_file(resolved: Path) -> Path:
    digest = hashlib.sha1(str(resolved).encode()).hexdigest()[:20]
    return Path(tempfile.gettempdir()) / f"reenact-locks-{_uid()}" / f"{digest}.lock"


def _uid() -> str:
    return str(os.getuid()) if hasattr(os, "getuid") else "user"


def lock_output(path: str | Path) -> None:
    """Hold an exclusive lock on `path` for this process (released by `unlock_output` or at exit).

    The lock is an flock on a small file in the temp folder, so the OS drops it when a run dies
    and no stale lock can block the next run.
    """
    resolved = Path(path).expanduser().resolve()
    if fcntl is None or resolved in _locks:
        return
    lock = _lock_file(resolved)
    fd = None
    try:
        lock.parent.mkdir(mode=0o700, exist_ok=True)
        while True:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
                os.close(fd)
                raise OutputError(f"another reenact run (pid {holder}) is writing {path}; wait for it or "
                                  "choose another output") from None
            # the holder before us may have removed the file between our open and our lock
            if os.path.exists(lock) and os.stat(lock).st_ino == os.fstat(fd).st_ino:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
    except OSError:
        return  # no usable temp folder: run unlocked rather than not at all
    except BaseException:
        # a signal between creating the file and registering the lock: leave no lock file behind
        # (removed only if no other run holds it)
        if fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                lock.unlink()
            with contextlib.suppress(OSError):
                os.close(fd)
        raise
    _locks[resolved] = (fd, lock)


def unlock_output(path: str | Path) -> None:
    held = _locks.pop(Path(path).expanduser().resolve(), None)
    if held is not None:
        fd, lock = held
        with contextlib.suppress(OSError):
            lock.unlink()
        os.close(fd)


def unlock_all() -> None:
    for path in list(_locks):
        unlock_output(path)


# ------------------------------------------------------------------------- temporary files, swaps

_scratch: set[Path] = set()


def remove_scratch() -> None:
    """Remove every temporary file or folder this process has not yet moved into place."""
    for tmp in list(_scratch):
        _remove(tmp)
        _scratch.discard(tmp)


atexit.register(remove_scratch)
atexit.register(unlock_all)


def _remove(p: Path) -> None:
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            p.unlink()


def scratch_path(path: Path, label: str, is_dir: bool = False) -> Path:
    """A new hidden temporary sibling of `path`, removed on failure, interrupt or exit."""
    try:
        if is_dir:
            tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.{label}.", suffix=".part", dir=path.parent))
        else:
            fd, name = tempfile.mkstemp(prefix=f".{path.stem}.{label}.", suffix=f".part{path.suffix}", dir=path.parent)
            os.close(fd)
            tmp = Path(name)
    except OSError as exc:
        raise OutputError(f"cannot write in {path.parent}: {exc.strerror}") from None
    _scratch.add(tmp)
    return tmp


def release_scratch(tmp: Path, remove: bool = True) -> None:
    if remove:
        _remove(tmp)
    _scratch.discard(tmp)


def write_error(path: Path, exc: OSError) -> OutputError:
    """One line for a failed write: the output, the cause, and that nothing was left there."""
    cause = exc.strerror or str(exc) or exc.__class__.__name__
    hint = "; free some space and run again" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else ""
    return OutputError(f"writing {path} failed: {cause}{hint} (nothing was written there)")


@contextlib.contextmanager
def atomic_path(path: str | Path, is_dir: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling of `path`; it replaces `path` only if the block succeeds.

    A folder gets a manifest of its files, and an existing folder is swapped out (and then
    removed) only if it holds nothing but what reenact wrote. Inputs are never replaced.
    """
    path = Path(path)
    _refuse_protected(path, sorted(_protected))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create folder {path.parent}: {exc.strerror}") from None
    tmp = scratch_path(path, "tmp", is_dir=is_dir)
    try:
        try:
            yield tmp
            if is_dir:
                _write_manifest(tmp)
            # temporary files are private (0600); the output gets the permissions a plain write would
            os.chmod(tmp, (0o777 if is_dir else 0o666) & ~_umask())
            _swap_in(tmp, path, is_dir)
        except OSError as exc:
            if exc.errno in _WRITE_ERRNOS or (exc.filename and Path(exc.filename).parent == path.parent):
                raise write_error(path, exc) from None
            raise
    finally:
        release_scratch(tmp, remove=True)
        unlock_output(path)


def _swap_in(tmp: Path, path: Path, is_dir: bool) -> None:
    if path.is_dir() and not path.is_symlink():
        if not is_dir:
            raise OutputError(f"output {path} is an existing folder; give a file name")
        if not replaceable_folder(path):
            raise OutputError(f"{path} now holds files reenact did not write; the new output is not moved there")
        old = scratch_path(path, "old", is_dir=True)
        os.replace(path, old / path.name)
        os.replace(tmp, path)
        release_scratch(old)  # the old output goes only once the new one is in place
    elif is_dir and path.exists():
        raise OutputError(f"output {path} is an existing file, not a folder; choose another name")
    else:
        os.replace(tmp, path)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
