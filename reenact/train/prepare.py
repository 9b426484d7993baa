"""`reenact train prepare`: a folder of videos -> a training dataset with the inference's own maps.

Per clip, everything the inference would compute if the clip's first frame were the source portrait
and the clip the driving video: the face track, the depth / normal / render maps on the source's
512 crop (`clip_guidance`, the one call into the inference path), and the frames themselves cut
with that same crop. Layout:

    DATASET/
      index.json                   kept clips: name, frame count, fps, tracker backend, map size
      report.json                  every clip: kept or dropped, why, and its quality numbers
      clips/<name>/
        status.json                written last: a clip with it is done (resume skips it)
        source.png                 frame 0, full size (the "source portrait" of the maps)
        track.npz                  the HeadTrack of the clip (reenact track's format)
        frames/0000.png ...        the frames on the source crop, render.size square
        maps/depth|normal|render/  the guidance maps, as `reenact guidance` writes them

Work is split over processes by clip (`accelerate launch ... reenact train prepare`): process r
takes clips r, r+n, ...; each clip's result depends on that clip alone, and the index is written
from the per-clip status files once all processes are done, so any process count gives the same
dataset.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..errors import InputError, OutputError
from ..io.images import write_image
from ..io.video import is_video_path, iter_frames, probe_video
from .config import PrepareOptions
from ..processes import process_state

log = logging.getLogger("reenact")

DATASET_FORMAT = "reenact.train-dataset"
DATASET_VERSION = 1
STATUS = "status.json"


@dataclass
class ClipStatus:
    name: str
    video: str
    kept: bool
    reason: str = ""                              # why it was dropped
    frames: int = 0
    fps: float = 0.0
    backend: str = ""
    stats: dict[str, float] = field(default_factory=dict)


def list_videos(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise InputError(f"--videos folder not found: {folder}")
    videos = sorted(p for p in folder.rglob("*") if p.is_file() and is_video_path(p))
    if not videos:
        raise InputError(f"no videos (.mp4, .mov, .avi, .mkv, .webm, ...) in {folder}")
    return videos


def clip_names(videos: list[Path], root: Path) -> list[str]:
    """Unique folder names from the paths below `root` (sub/clip.mp4 -> sub__clip)."""
    return ["__".join(v.relative_to(root).with_suffix("").parts) for v in videos]


def scene_cut(frames: list[np.ndarray], threshold: float) -> int | None:
    """First frame index whose mean absolute grey-level change from the previous frame exceeds
    `threshold` (a hard cut), or None."""
    previous = None
    for i, frame in enumerate(frames):
        grey = cv2.resize(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), (64, 64), interpolation=cv2.INTER_AREA)
        grey = grey.astype(np.float32)
        if previous is not None and float(np.abs(grey - previous).mean()) > threshold:
            return i
        previous = grey
    return None


def clip_guidance(reenactor, source_png: Path, track_npz: Path, out_dir: Path, backend: str) -> None:
    """The inference's guidance path for (source image, driving track) -> out_dir/{depth,normal,render}.

    The single place where training data meets the inference's map rendering; repoint it when the
    guidance path moves."""
    reenactor.guidance(source_png, track_npz, out_dir, backend=backend, overwrite=True)


def _inference_track(reenactor, faces, backend: str, frames: list[np.ndarray]):
    """The tracker exactly as `reenact guidance` runs it on a driving video (no cache: every clip is new)."""
    return reenactor._track(faces, backend, reenactor.cfg, None, frames=lambda: frames)


def _inference_plan(reenactor, backend: str) -> tuple[str, "FaceOptions"]:  # noqa: F821
    """The tracker and the face options `reenact guidance` would use: the maps feed MagicPortrait, so
    the official crop rule when the config says auto."""
    from ..faces import FaceOptions
    from ..faces.detect import for_magicportrait
    from ..plan import plan_maps

    plan = plan_maps(reenactor.cfg, reenactor.inventory, None if backend == "auto" else backend, "video")
    return plan.tracker, for_magicportrait(FaceOptions.from_config(reenactor.cfg.faces), True)


def prepare_clip(video: Path, name: str, out: Path, options: PrepareOptions, reenactor) -> ClipStatus:
    """One clip into `out` (a fresh folder). Returns what was kept or why it was dropped."""
    from ..faces import detect_faces
    from ..faces.crop import warp_to_crop

    cfg = reenactor.cfg
    status = ClipStatus(name=name, video=str(video), kept=False)
    try:
        info = probe_video(video)
        frames = list(iter_frames(video, max_frames=options.max_frames))
    except InputError as exc:
        status.reason = f"unreadable: {exc}"
        return status
    status.frames, status.fps = len(frames), float(info.fps or 25.0)
    if len(frames) < options.min_frames:
        status.reason = f"too short: {len(frames)} frames < min_frames {options.min_frames}"
        return status
    cut = scene_cut(frames, options.scene_cut)
    if cut is not None:
        status.reason = f"scene cut at frame {cut}; split the clip there"
        return status

    backend, face_opts = _inference_plan(reenactor, options.backend)
    try:
        faces = detect_faces(frames, status.fps, face_opts, video=True, total=len(frames), source_name=name)
        source = detect_faces([frames[0]], 0.0, face_opts, video=False, source_name=f"{name} frame 0")
    except InputError as exc:
        status.reason = f"no usable face: {exc}"
        return status
    head = _inference_track(reenactor, faces, backend, frames)
    face_width = faces.landmarks[..., 0].max(axis=1) - faces.landmarks[..., 0].min(axis=1)   # any crop rule
    status.backend = backend
    status.stats = {"face_px": float(np.median(face_width)),
                    "residual": float(np.median(head.residuals)),
                    "detected": float(np.mean(faces.detected))}
    checks = [(status.stats["face_px"] < options.min_face_px,
               f"face too small: {status.stats['face_px']:.0f} px < min_face_px {options.min_face_px:g}"),
              (status.stats["residual"] > options.max_residual,
               f"tracking residual {status.stats['residual']:.2f} px > max_residual {options.max_residual:g}"),
              (status.stats["detected"] < options.min_detected,
               f"face found in {status.stats['detected']:.0%} of frames < min_detected {options.min_detected:.0%}")]
    for failed, reason in checks:
        if failed:
            status.reason = reason
            return status

    out.mkdir(parents=True, exist_ok=True)
    write_image(out / "source.png", frames[0])
    with open(out / "track.npz", "wb") as fh:
        head.save(fh)
    clip_guidance(reenactor, out / "source.png", out / "track.npz", out / "maps", backend)
    # the frames on the canvas the maps were rendered on: the source's crop at render.size
    size = int(cfg.render.size)
    canvas = source.crop_transforms[0].astype(np.float64) * (size / source.crop_size)
    (out / "frames").mkdir()
    for i, frame in enumerate(frames):
        write_image(out / "frames" / f"{i:04d}.png", warp_to_crop(frame, canvas, size))
    status.kept = True
    return status


def _read_status(folder: Path) -> ClipStatus | None:
    path = folder / STATUS
    if not path.is_file():
        return None
    return ClipStatus(**json.loads(path.read_text()))


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


def prepare_dataset(videos: str | Path, out: str | Path, options: PrepareOptions = PrepareOptions(), *,
                    config: Any = None, quiet: bool = True) -> dict:
    """Prepare every clip (resuming: finished clips are skipped), then write index.json and report.json.

    Under `accelerate launch` each process takes its share of the clips; returns the report."""
    from tqdm.auto import tqdm

    from ..pipeline import Reenactor

    videos, out = Path(videos), Path(out)
    paths = list_videos(videos)
    names = clip_names(paths, videos)
    state = process_state()
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out} exists and is not a folder")
    (out / "clips").mkdir(parents=True, exist_ok=True)
    reenactor = Reenactor(config, quiet=True)
    mine = list(zip(paths, names))[state.process_index::state.num_processes]
    for video, name in tqdm(mine, desc=f"prepare [{state.process_index}]", unit="clip", disable=quiet):
        folder = out / "clips" / name
        if _read_status(folder) is not None:
            continue                                   # done by an earlier run
        partial = out / "clips" / f".{name}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        status = prepare_clip(video, name, partial, options, reenactor)
        partial.mkdir(parents=True, exist_ok=True)
        _write_json(partial / STATUS, asdict(status))
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(partial, folder)
        log.info("%s: %s", name, "kept" if status.kept else f"dropped ({status.reason})")
    state.wait_for_everyone()
    report = build_report(out, names, options, config)
    return report


def build_report(out: Path, names: list[str], options: PrepareOptions, config: Any) -> dict:
    """index.json + report.json from the per-clip status files (main process only writes)."""
    from accelerate import PartialState

    statuses = [s for s in (_read_status(out / "clips" / n) for n in names) if s is not None]
    kept = [s for s in statuses if s.kept]
    size = int(config.render.size) if config is not None else 512
    index = {"format": DATASET_FORMAT, "version": DATASET_VERSION, "size": size,
             "guidance_types": ["depth", "normal", "render"],
             "clips": [{"name": s.name, "frames": s.frames, "fps": s.fps, "backend": s.backend} for s in kept]}
    report = {"kept": len(kept), "dropped": len(statuses) - len(kept), "options": asdict(options),
              "clips": [asdict(s) for s in statuses]}
    if PartialState().is_main_process:
        _write_json(out / "index.json", index)
        _write_json(out / "report.json", report)
    return report
