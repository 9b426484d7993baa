"""How a command runs in a terminal: notes on stderr, a ReenactError as one line and an exit code.

Only this module turns errors into text; `reenact` (cli.py) and `python -m reenact.eval` both run
their commands through `run_handler`.
"""

from __future__ import annotations

import errno
import logging
import os
import signal
import sys
import threading

from .errors import ReenactError

log = logging.getLogger("reenact")


def _setup_logging(quiet: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    log.handlers[:] = [handler]
    log.setLevel(logging.ERROR if quiet else logging.INFO)
    log.propagate = False


class _NotesStream:
    """stderr that drops what it is given once its reader has gone (`reenact ... 2>&1 | head`, a
    log viewer closed): the notes and progress bars are for someone watching, the job's result is
    its file, so the job goes on. A write that raised there instead ended the run with status 0 and
    no output, or, raised in the generating thread's progress bar, left the program hung at exit."""

    def __init__(self, stream) -> None:
        self._stream = stream
        self.reader_gone = False

    def write(self, text: str) -> int:
        if not self.reader_gone:
            try:
                return self._stream.write(text)
            except BrokenPipeError:
                self.reader_gone = True
        return len(text)

    def flush(self) -> None:
        if not self.reader_gone:
            try:
                self._stream.flush()
            except BrokenPipeError:
                self.reader_gone = True

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


def run_handler(handler, args) -> int:
    """Run one command: its notes on stderr, a ReenactError as one line and an exit code.

    SIGTERM and SIGHUP (a job scheduler, a container stop, a closed terminal) end the run as
    Ctrl-C does: every temporary file and folder is removed, one line, exit status 128 + signal.
    A full disk or any other OSError is one line naming the file and the cause.
    """
    from .io.paths import protect, remove_scratch, unlock_all, unprotect_all

    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    stderr = sys.stderr
    sys.stderr = _NotesStream(stderr)
    _setup_logging(args.quiet)
    # the files a command reads are never among those it may write over
    protect(*(getattr(args, name, None) for name in _INPUT_ARGS))
    previous = _install_signal_handlers()
    try:
        return handler(args)
    except ReenactError as exc:
        print(f"reenact: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except _Terminated as exc:
        print(f"reenact: interrupted by {signal.Signals(exc.signum).name}; temporary files removed", file=sys.stderr)
        return 128 + exc.signum
    except KeyboardInterrupt:
        print("reenact: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `reenact doctor | head`: stdout's reader left; nothing to report
        return 0
    except OSError as exc:  # disk full, read-only filesystem, vanished folder: say which file and why
        where = f"{exc.filename}: " if exc.filename else ""
        hint = "; free some space and run again" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else ""
        print(f"reenact: error: {where}{exc.strerror or exc}{hint}", file=sys.stderr)
        return 3 if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS) else 1
    except MemoryError:
        print("reenact: error: out of memory; try --max-frames or a smaller --set faces.crop_size", file=sys.stderr)
        return 1
    finally:
        remove_scratch()
        unlock_all()
        unprotect_all()
        _restore_signal_handlers(previous)
        sys.stderr = stderr


# argparse names of the files commands read
_INPUT_ARGS = ("source", "driving", "input", "config", "src", "sd15")


class _Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised where the program is, so every cleanup on the way out runs."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _on_signal(signum, frame) -> None:
    # a second signal must not cut the cleanup short
    for sig in _HANDLED_SIGNALS + (signal.SIGINT,):
        signal.signal(sig, signal.SIG_IGN)
    raise _Terminated(signum)


_HANDLED_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


def _install_signal_handlers() -> dict:
    if threading.current_thread() is not threading.main_thread():
        return {}  # handlers can only be set from the main thread (an embedding app's worker)
    previous = {sig: signal.getsignal(sig) for sig in _HANDLED_SIGNALS + (signal.SIGINT,)}
    for sig in _HANDLED_SIGNALS:
        signal.signal(sig, _on_signal)
    return previous


def _restore_signal_handlers(previous: dict) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
