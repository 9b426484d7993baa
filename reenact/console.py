"""How a command runs in a terminal: notes on stderr, a ReenactError as one line and an exit code.

Only this module turns errors into text; `reenact` (cli.py) and `python -m reenact.eval` both run
their commands through `run_handler`.
"""

from __future__ import annotations

import logging
import os
import sys

from .errors import ReenactError

log = logging.getLogger("reenact")


def _setup_logging(quiet: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    log.handlers[:] = [handler]
    log.setLevel(logging.ERROR if quiet else logging.INFO)
    log.propagate = False


def run_handler(handler, args) -> int:
    """Run one command: its notes on stderr, a ReenactError as one line and an exit code."""
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    _setup_logging(args.quiet)
    try:
        return handler(args)
    except ReenactError as exc:
        print(f"reenact: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("reenact: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `reenact doctor | head`: the reader left; nothing to report
        sys.stderr.close()
        return 0
    except MemoryError:
        print("reenact: error: out of memory; try --max-frames or a smaller --set faces.crop_size", file=sys.stderr)
        return 1
