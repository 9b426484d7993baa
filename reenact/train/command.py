"""`reenact train prepare|stage1|stage2`: argument parsing and the calls; errors stay ReenactErrors."""

from __future__ import annotations

import argparse
import logging
from dataclasses import fields

log = logging.getLogger("reenact")


def build_parser(prog: str = "reenact train") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description="Prepare a dataset from videos and train MagicPortrait "
                                "(stage 1: images, stage 2: motion). Multi-GPU: `accelerate launch -m reenact train ...`.")
    sub = p.add_subparsers(dest="action", required=True)
    prep = sub.add_parser("prepare", help="frames, tracks and guidance maps per clip, with quality filters")
    prep.add_argument("--videos", required=True, metavar="DIR", help="folder of videos (searched recursively)")
    prep.add_argument("--output", "-o", required=True, metavar="DATASET")
    from .config import PrepareOptions

    for f in fields(PrepareOptions):
        kind = int if f.name in ("max_frames", "min_frames") else (str if f.name == "backend" else float)
        prep.add_argument(f"--{f.name.replace('_', '-')}", type=kind, default=f.default, metavar=kind.__name__.upper())
    for stage in ("stage1", "stage2"):
        s = sub.add_parser(stage, help="stage 1: reference + denoising UNets and guidance encoders on frame pairs"
                           if stage == "stage1" else "stage 2: only the motion modules, on clips")
        s.add_argument("--data", required=True, metavar="DATASET", help="a folder made by `reenact train prepare`")
        s.add_argument("--train-config", metavar="YAML", help=f"overrides reenact/configs/train_{stage}.yaml")
        s.add_argument("--output", "-o", metavar="DIR", help="run folder (default: the config's output_dir)")
        s.add_argument("--resume", metavar="CHECKPOINT|latest",
                       help="continue from a checkpoint folder, or `latest` in the run folder")
        s.add_argument("--max-steps", type=int, metavar="N")
        s.add_argument("--quiet", "-q", action="store_true")
        s.add_argument("--set", metavar="KEY=VALUE", action="append", default=[],
                       help="override one training option, e.g. --set lr=5e-6 (repeatable; see docs/training.md)")
        s.set_defaults(config=None)
    for s in (prep,):
        s.add_argument("--quiet", "-q", action="store_true")
        s.add_argument("--config", metavar="YAML", help="a reenact config (faces, render, align sections)")
        s.add_argument("--set", metavar="KEY=VALUE", action="append", default=[],
                       help="override one reenact config key, e.g. --set render.size=512")
    return p


def run(args) -> int:
    if args.action == "prepare":
        from ..config import load_config
        from .config import PrepareOptions
        from .prepare import prepare_dataset

        options = PrepareOptions(**{f.name: getattr(args, f.name) for f in fields(PrepareOptions)})
        report = prepare_dataset(args.videos, args.output, options, config=load_config(args.config, args.set),
                                 quiet=args.quiet)
        log.info("%s: kept %d clip(s), dropped %d (reasons in report.json)", args.output, report["kept"],
                 report["dropped"])
        return 0
    from .config import load_train_config
    from .loop import train_stage

    overrides = list(args.set)
    if args.output:
        overrides.append(f"output_dir={args.output}")
    if args.max_steps:
        overrides.append(f"max_steps={args.max_steps}")
    if args.quiet:
        overrides.append("progress=false")
    cfg = load_train_config(args.action, args.train_config, overrides)
    result = train_stage(cfg, args.data, resume=args.resume)
    log.info("%s: %d steps, last loss %.4f; weights in %s", args.action, result.steps,
             result.losses[-1] if result.losses else float("nan"), result.final or cfg.output_dir)
    return 0
