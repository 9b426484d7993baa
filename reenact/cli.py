"""The `reenact` command line: argument parsing and one handler per command (run by reenact.console)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from . import __version__
from .console import run_handler
from .errors import ReenactError
from .faces.presets import PRESETS
from .generate.base import available_generators
from .tracking.base import available_backends

log = logging.getLogger("reenact")

# NASA's public-domain portrait of Eileen Collins (reenact/assets/NOTICE.md)
DEMO_PORTRAIT = Path(__file__).resolve().parent / "assets" / "astronaut.png"

SUBCOMMANDS = ("doctor", "landmarks", "demo", "track", "guidance", "weights", "eval", "batch", "train")

MAIN_EPILOG = """\
other commands:
  reenact doctor                       list the assets the pipeline can use, found or missing
  reenact landmarks --input IMG|VIDEO -o OUT.npz [--preview PATH]
                                       478 face landmarks per frame (and an overlay to look at)
  reenact track --driving VIDEO|--source IMG -o TRACK.npz [--backend auto|flame|mesh]
                                       head-model parameters per frame
  reenact guidance --source IMG --driving VIDEO|TRACK.npz --out DIR [--preview GRID.mp4]
                                       depth / normal / render guidance maps (MagicPortrait's layout)
  reenact weights convert [--src DIR] [--out DIR]
                                       official MagicPortrait checkpoints -> a safetensors folder
  reenact eval self|cross --videos DIR [--sources DIR] --engine warp|diffusion -o RUN_DIR
                                       benchmark evaluation: metrics.json, report.md, plots
  reenact train prepare|stage1|stage2  training data from videos, and the two training stages
  reenact demo [-o outputs/demo.mp4]   the bundled portrait performing a bundled preset
  reenact batch LIST|DIR -o OUT_DIR    many source/driving pairs, weights loaded once
                                       (`accelerate launch -m reenact batch ...` spreads them over GPUs)
run `reenact COMMAND --help` for a command's options.
"""


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bars or notes, errors only")
    parser.add_argument("--config", metavar="YAML", help="a config file overriding configs/default.yaml")
    parser.add_argument("--set", metavar="KEY=VALUE", action="append", default=[],
                        help="override one config key, e.g. --set faces.crop_size=256 (repeatable)")


def _alignment_mode(parser: argparse.ArgumentParser) -> None:
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--relative", dest="mode", action="store_const", const="relative",
                      help="transfer the driving's motion since its first frame (default for the mesh)")
    mode.add_argument("--absolute", dest="mode", action="store_const", const="absolute",
                      help="the driving's head rotation (and with FLAME its expression) as they are (official MagicPortrait)")


def _main_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="reenact", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=MAIN_EPILOG,
        description="Animate a portrait photo with the expressions and head motion of a driving video.")
    p.add_argument("--version", action="version", version=f"reenact {__version__}")
    p.add_argument("--source", "-s", required=True, metavar="IMG", help="the portrait to animate")
    p.add_argument("--driving", "-d", required=True, metavar="VIDEO",
                   help=f"the motion: a video (an animated GIF, WebP or PNG too), a single image (its expression), "
                        f"or preset:{'|'.join(PRESETS)}")
    p.add_argument("--output", "-o", required=True, metavar="OUT.mp4",
                   help="the video to write (.mp4; an animated .gif or .webp plays without sound), a folder "
                        "for PNG frames, or an image for a still driving")
    p.add_argument("--engine", choices=["auto", *available_generators()],
                   help="auto (default): diffusion when its weights and a GPU are present, else warp")
    _weights_options(p)
    _alignment_mode(p)
    p.add_argument("--expression-scale", type=float, metavar="X", help="multiply the expression change (default 1)")
    p.add_argument("--pose-scale", type=float, metavar="X", help="multiply the head motion (default 1)")
    p.add_argument("--head-motion", choices=["anchored", "follow"],
                   help="anchored (default): the head stays on the body, only rotation and expression move it;"
                        " follow: also a bounded part of the driving head's movement and zoom")
    p.add_argument("--smooth", type=float, metavar="SIGMA", help="smooth the driving motion over time (frames)")
    p.add_argument("--max-frames", type=int, metavar="N", help="use only the first N driving frames")
    p.add_argument("--fps", type=float, help="output frame rate (default: the driving video's); the "
                   "driving keeps its duration and stays in step with its sound")
    p.add_argument("--no-pasteback", dest="pasteback", action="store_false", default=None,
                   help="write the square face crop instead of the full source picture")
    p.add_argument("--no-audio", dest="audio", action="store_false", default=None,
                   help="do not copy the driving video's audio")
    p.add_argument("--no-cache", dest="cache", action="store_false", default=None,
                   help="re-track the driving video even if it was seen before")
    p.add_argument("--face-index", type=int, metavar="K", help="which face when several: 0 = largest (default)")
    p.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    _common(p)
    return p


def _landmarks_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="reenact landmarks",
                                description="Detect 478 MediaPipe face landmarks per frame and save them as .npz.")
    p.add_argument("--input", "-i", required=True, metavar="IMG|VIDEO")
    p.add_argument("--output", "-o", required=True, metavar="OUT.npz")
    p.add_argument("--preview", metavar="PATH", help="also write the landmarks drawn on the input (.png/.jpg for an image, .mp4 for a video)")
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--max-frames", type=int, metavar="N")
    p.add_argument("--face-index", type=int, metavar="K")
    _common(p)
    return p


def _track_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="reenact track",
                                description="Fit the head model per frame and save the track (.npz).")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--driving", "-d", metavar="VIDEO", help="a driving video")
    what.add_argument("--source", "-s", metavar="IMG", help="a source portrait (one frame)")
    p.add_argument("--output", "-o", required=True, metavar="TRACK.npz")
    p.add_argument("--backend", choices=["auto", *available_backends()],
                   help="auto (default, tracking.backend): FLAME when its files are in flame_assets/, else the MediaPipe mesh")
    p.add_argument("--max-frames", type=int, metavar="N")
    p.add_argument("--overwrite", action="store_true")
    _common(p)
    return p


def _guidance_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="reenact guidance",
                                description="Render the depth / normal / render guidance maps (MagicPortrait's layout).")
    p.add_argument("--source", "-s", required=True, metavar="IMG")
    p.add_argument("--driving", "-d", required=True, metavar="VIDEO|TRACK.npz|preset:NAME")
    p.add_argument("--out", "-o", required=True, metavar="DIR", help="writes DIR/depth, DIR/normal, DIR/render")
    p.add_argument("--preview", metavar="GRID.mp4", help="source | driving | depth | normal | render, side by side")
    p.add_argument("--backend", choices=["auto", *available_backends()],
                   help="tracker (default tracking.backend): auto = FLAME when present, else the MediaPipe mesh")
    _alignment_mode(p)
    p.add_argument("--max-frames", type=int, metavar="N")
    p.add_argument("--format", choices=["png", "jpg"], default=None,
                   help="png (lossless, default) or jpg (JPEG quality 75, as the official README's frames)")
    p.add_argument("--overwrite", action="store_true")
    _common(p)
    return p


def _weights_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="reenact weights", description="Manage the diffusion weights.")
    sub = p.add_subparsers(dest="action", required=True)
    conv = sub.add_parser("convert", help="write the official checkpoints as a safetensors folder (faster, no pickle)")
    conv.add_argument("--src", metavar="DIR", help="weights folder or official ckpts folder (default: paths.weights_dir)")
    conv.add_argument("--out", metavar="DIR", help="default: <weights_dir>/magicportrait-converted, which loads first")
    conv.add_argument("--sd15", metavar="DIR", help="the SD1.5 folder, if not next to the checkpoints")
    conv.add_argument("--half", action="store_true", help="store float16 (half the size; not bit-exact)")
    conv.add_argument("--overwrite", action="store_true")
    _common(conv)
    p.set_defaults(quiet=False, config=None, set=[])
    return p


def _demo_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="reenact demo",
                                description="Animate the bundled public-domain astronaut portrait with a bundled preset.")
    p.add_argument("--output", "-o", default="outputs/demo.mp4")
    p.add_argument("--preset", default="talk", choices=PRESETS)
    p.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    _common(p)
    return p


# ---- diffusion generator options and `reenact batch` (issue 13) ---------------------------------------
def _weights_options(parser: argparse.ArgumentParser, official: bool = True) -> None:
    parser.add_argument("--weights", metavar="DIR", type=lambda p: str(Path(p).expanduser().resolve()),
                        help="folder holding the diffusion weights, in any layout `reenact doctor` recognises "
                             "(default: paths.weights_dir)")
    if official:
        parser.add_argument("--official", action="store_true", default=None,
                            help="diffusion: every official numeric choice (fp32, DDIM 20, wrapping windows)")


def _batch_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="reenact batch", description="Run many source/driving pairs with one model load.")
    p.add_argument("jobs", metavar="LIST|DIR",
                   help="a text file of `SOURCE DRIVING [OUTPUT]` lines, or a folder with source/ and driving/")
    p.add_argument("--output", "-o", required=True, metavar="OUT_DIR", help="where the videos go")
    p.add_argument("--engine", choices=["auto", *available_generators()])
    p.add_argument("--overwrite", action="store_true", help="redo jobs whose output exists (default: skip them)")
    _weights_options(p)
    _common(p)
    return p


def cmd_batch(args) -> int:
    from .batch import process_slot, read_jobs, run_batch, shard
    from .pipeline import Reenactor

    jobs = read_jobs(args.jobs, args.output)
    from .config import override

    index, count, device = process_slot()
    cfg = override(_config(args), {"generate.diffusion.device": device}, "accelerate launch")
    mine = shard(jobs, index, count)
    report = run_batch(Reenactor(cfg, engine=args.engine, quiet=args.quiet), mine, overwrite=args.overwrite)
    log.info("batch%s: %d done, %d skipped (output exists), %d failed",
             f" (process {index + 1}/{count})" if count > 1 else "", len(report.done), len(report.skipped),
             len(report.failed))
    return 1 if report.failed else 0
# ---- end of issue-13 options -----------------------------------------------------------------------------


def _doctor_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="reenact doctor", description="List the assets reenact can use on this machine.")
    _weights_options(p, official=False)
    _common(p)
    return p


# Flags of the commands and the config keys they set (the config schema validates the values).
FLAG_KEYS = {
    "engine": "run.engine", "mode": "align.mode", "expression_scale": "align.expression_scale",
    "pose_scale": "align.pose_scale", "head_motion": "align.head_motion", "smooth": "align.smoothing",
    "max_frames": "run.max_frames", "fps": "run.fps",
    "pasteback": "run.pasteback", "audio": "run.audio", "cache": "run.cache", "face_index": "faces.face_index",
    "weights": "paths.weights_dir", "official": "generate.diffusion.official",
}


def _config(args):
    """Defaults, --config, --set, then the command's own flags; each value checked by the schema."""
    from .config import load_config, override

    cfg = load_config(args.config, args.set)
    for name, key in FLAG_KEYS.items():
        value = getattr(args, name, None)
        if value is not None:
            flag = f"--{value}" if name == "mode" else f"--{name.replace('_', '-')}"
            cfg = override(cfg, {key: value}, flag)
    return cfg


def cmd_doctor(args) -> int:
    from .inventory import Inventory
    from .plan import make_plan

    cfg = _config(args)
    rows = Inventory(cfg).rows()
    width = max(len(r.name) for r in rows)
    group = None
    for r in rows:
        if r.group != group:
            group = r.group
            print(f"[{group}]")
        mark = "found  " if r.found else ("MISSING" if r.required else "missing")
        print(f"  {mark}  {r.name:<{width}}  {r.path}")
        if not r.found:
            print(f"           {'':<{width}}  {r.note}")
        if r.found and r.licence:
            print(f"           {'':<{width}}  licence: {r.licence}")
    try:
        print(make_plan(cfg).line().replace("plan:", "a video run now would use:", 1))
    except ReenactError as exc:
        print(f"a video run now would fail: {exc}")
    return 0


def cmd_landmarks(args) -> int:
    from .faces import FaceOptions, detect_in_file
    from .io.paths import check_output, require_input_file
    from .progress import make_progress

    src = require_input_file(args.input, "input")
    out = check_output(args.output, [src], args.overwrite)
    if out.suffix.lower() != ".npz":
        raise ReenactError(f"landmarks are saved as .npz; got {out.name}")
    preview = check_output(args.preview, [src, out], args.overwrite) if args.preview else None
    progress = make_progress(args.quiet)
    track = detect_in_file(src, FaceOptions.from_config(_config(args).faces), args.max_frames, progress)
    from .io.paths import atomic_path

    with atomic_path(out) as tmp:
        with open(tmp, "wb") as fh:
            track.save(fh)
    log.info("wrote %s (%d frame(s), %d detected)", out, len(track), int(track.detected.sum()))
    if preview is not None:
        from .faces.preview import write_preview

        write_preview(src, track, preview, args.max_frames, progress)
        log.info("wrote %s", preview)
    return 0


def cmd_run(args) -> int:
    from .pipeline import Reenactor

    result = Reenactor(_config(args), quiet=args.quiet).run(args.source, args.driving, args.output,
                                                            overwrite=args.overwrite)
    stages = ", ".join(f"{k} {v:.1f}s" for k, v in result.timings.items())
    log.info("timings: %s", stages)
    return 0


def cmd_track(args) -> int:
    from .pipeline import Reenactor

    Reenactor(_config(args), quiet=args.quiet).track(args.driving or args.source, args.output, backend=args.backend,
                                                     overwrite=args.overwrite, max_frames=args.max_frames)
    return 0


def cmd_guidance(args) -> int:
    from .pipeline import Reenactor

    Reenactor(_config(args), quiet=args.quiet).guidance(args.source, args.driving, args.out, backend=args.backend,
                                                        preview=args.preview, overwrite=args.overwrite,
                                                        image_format=args.format)
    return 0


def cmd_weights(args) -> int:
    from .config import resolve_path
    from .generate.diffusion import convert_weights

    cfg = _config(args)
    src = Path(args.src) if args.src else resolve_path(cfg.paths.weights_dir)
    out = Path(args.out) if args.out else resolve_path(cfg.paths.weights_dir) / "magicportrait-converted"
    import torch

    written = convert_weights(src, out, sd15_dir=args.sd15, dtype=torch.float16 if args.half else None,
                              overwrite=args.overwrite)
    log.info("wrote %s", written)
    return 0


def _eval_parser() -> argparse.ArgumentParser:
    from .eval.command import build_parser

    return build_parser("reenact eval")


def cmd_eval(args) -> int:
    from .eval.command import run

    return run(args)


# ---- train (issue 14): the command lives in reenact/train/command.py ----
def _train_parser() -> argparse.ArgumentParser:
    from .train.command import build_parser

    return build_parser("reenact train")


def cmd_train(args) -> int:
    from .train.command import run

    return run(args)
# ---- end train ----


def cmd_demo(args) -> int:
    """The bundled public-domain portrait performing a bundled preset; no downloads, any CPU."""
    from .io.paths import check_output
    from .pipeline import Reenactor

    out = check_output(args.output, [], args.overwrite)
    result = Reenactor(_config(args), engine="warp", quiet=args.quiet).run(
        DEMO_PORTRAIT, f"preset:{args.preset}", out, overwrite=args.overwrite)
    print(f"demo: {result.output} ({result.frames} frames, {sum(result.timings.values()):.1f} s)")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in SUBCOMMANDS:
        name, rest = argv[0], argv[1:]
        parser, handler = {
            "doctor": (_doctor_parser, cmd_doctor), "landmarks": (_landmarks_parser, cmd_landmarks),
            "demo": (_demo_parser, cmd_demo), "track": (_track_parser, cmd_track),
            "guidance": (_guidance_parser, cmd_guidance), "weights": (_weights_parser, cmd_weights),
            "eval": (_eval_parser, cmd_eval), "batch": (_batch_parser, cmd_batch),
            "train": (_train_parser, cmd_train),
        }[name]
        parser = parser()
    else:
        parser, rest, handler = _main_parser(), argv, cmd_run
    return run_handler(handler, parser.parse_args(rest))


if __name__ == "__main__":
    sys.exit(main())
