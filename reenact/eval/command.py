"""The `reenact eval self|cross …` command line (also `python -m reenact.eval …`, which is what
`accelerate launch -m reenact.eval …` runs in every process)."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from pathlib import Path

from ..errors import InputError
from ..generate.base import available_generators

log = logging.getLogger("reenact")

EPILOG = """\
examples:
  reenact eval self  --videos clips/ -o runs/self
  reenact eval cross --videos clips/ --sources portraits/ -o runs/cross --max-frames 100
  accelerate launch --num_processes 4 -m reenact.eval self --videos clips/ -o runs/self
metrics whose weight files are missing are reported as "not measured"; see docs/eval.md.
"""


def build_parser(prog: str = "reenact eval") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
                                description="Benchmark reenactment: self (each clip drives its own first frame, "
                                            "compared with the real frames) or cross (every source x every clip).")
    p.add_argument("protocol", choices=("self", "cross"))
    p.add_argument("--videos", required=True, metavar="DIR",
                   help="folder of driving videos (or a dataset folder with driving/ and source/)")
    p.add_argument("--sources", metavar="DIR", help="cross: folder of source portraits (default: DIR's source/)")
    p.add_argument("--engine", default="auto", choices=("auto", *available_generators()),
                   help="generator (default auto)")
    p.add_argument("--output", "-o", required=True, metavar="RUN_DIR",
                   help="run folder for outputs, metrics.json and report.md (re-running resumes)")
    p.add_argument("--max-frames", type=int, metavar="N", help="use only the first N frames of each clip")
    p.add_argument("--runner", metavar="MODULE:FUNCTION",
                   help="evaluate another generator: FUNCTION(source, driving, output, max_frames) writes output")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bars or notes, errors only")
    p.add_argument("--config", metavar="YAML", help="a config file overriding configs/default.yaml")
    p.add_argument("--set", metavar="KEY=VALUE", action="append", default=[],
                   help="override one config key, e.g. --set eval.face_frames=64 (repeatable)")
    return p


def load_runner(spec: str):
    """`package.module:function` -> the function (imported from the current folder too)."""
    module, _, attr = spec.partition(":")
    if not module or not attr:
        raise InputError(f"--runner {spec!r}: expected MODULE:FUNCTION, e.g. mytools.liveportrait:run")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        fn = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise InputError(f"--runner {spec}: cannot import it ({exc})") from None
    if not callable(fn):
        raise InputError(f"--runner {spec} is not callable")
    return fn


def run(args) -> int:
    """The command's body; raises ReenactError for the caller to print."""
    from ..config import load_config
    from ..progress import make_progress
    from .harness import run_eval

    cfg = load_config(args.config, args.set)
    report = run_eval(args.protocol, Path(args.videos), Path(args.sources) if args.sources else None, args.engine,
                      Path(args.output), args.max_frames, load_runner(args.runner) if args.runner else None,
                      config=cfg, progress=make_progress(args.quiet))
    if report.is_file():
        log.info("wrote %s (and metrics.json, metrics.png, strips/ next to it)", report)
    return 0


def main(argv: list[str] | None = None) -> int:
    """`python -m reenact.eval` (what `accelerate launch -m reenact.eval` runs in each process)."""
    from ..console import run_handler

    return run_handler(run, build_parser("python -m reenact.eval").parse_args(argv))
