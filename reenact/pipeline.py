"""End to end: source portrait + driving motion → video. The CLI is a thin layer over `Reenactor`.

    from reenact import Reenactor
    result = Reenactor(engine="warp").run("face.jpg", "clip.mp4", "out.mp4")
    print(result.output, result.plan.line(), result.timings)

`run` reads top to bottom as the pipeline: inputs and plan, faces, tracking, alignment, generation
and writing. What runs is decided once, by `reenact.plan.make_plan`; the stages only carry it out.
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import repeat
from pathlib import Path
from typing import Any, Iterator

import numpy as np
from omegaconf import DictConfig

from . import __version__
from .cache import TrackCache, code_digest
from .config import cache_dir, load_config, override, to_yaml
from .driving import DrivingSource
from .errors import InputError
from .faces import FaceOptions, FaceTrack, detect_faces, detect_in_file
from .faces.clock import even_clock, frames_on_clock
from .faces.detect import for_magicportrait
from .faces.presets import preset_track
from .generate.base import DrivingView, Generator, SourceContext, make_generator
from .geometry.align import AlignedMesh, AlignOptions, align
from .inventory import Inventory
from .io.images import fit_megapixels, has_image_suffix, is_animated_picture, is_image_path, read_image, write_image
from .io.paths import atomic_path, check_output, require_input_file
from .io.prefetch import prefetched
from .io.writer import output_format
from .plan import Plan, make_plan, plan_maps
from .tracking.base import make_tracker
from .tracking.types import HeadTrack

log = logging.getLogger("reenact")

# Keyword options of `run` / `guidance` and the config keys they set.
RUN_OPTIONS = {
    "engine": "run.engine", "pasteback": "run.pasteback", "audio": "run.audio", "max_frames": "run.max_frames",
    "fps": "run.fps", "cache": "run.cache", "preset_seconds": "run.preset_seconds",
    "still_seconds": "run.still_seconds", "mode": "align.mode", "reference_frame": "align.reference_frame",
    "reference": "align.reference", "head_motion": "align.head_motion",
    "expression_scale": "align.expression_scale", "pose_scale": "align.pose_scale", "smoothing": "align.smoothing",
    "face_index": "faces.face_index", "backend": "tracking.backend",
}


@dataclass
class RunResult:
    output: Path
    frames: int
    fps: float
    plan: Plan
    timings: dict[str, float] = field(default_factory=dict)   # seconds per stage
    config_path: Path | None = None

    @property
    def engine(self) -> str:
        return self.plan.engine

    @property
    def backend(self) -> str:
        return self.plan.tracker


class _Timer:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start

    def iterate(self, name: str, items: Iterator) -> Iterator:
        """Time only the work of producing each item (not the consumer's)."""
        it = iter(items)
        while True:
            with self.stage(name):
                try:
                    item = next(it)
                except StopIteration:
                    return
            yield item


class Reenactor:
    """The whole pipeline with one configuration; reuse it for several runs (models load once)."""

    def __init__(self, config: DictConfig | str | Path | None = None, engine: str | None = None,
                 quiet: bool = True, progress=None, overrides: list[str] | tuple[str, ...] = ()):
        cfg = config if isinstance(config, DictConfig) else load_config(config, overrides)
        self.cfg = override(cfg, {"run.engine": engine}, "engine")
        from .progress import make_counter, make_progress

        self.progress = progress or make_progress(quiet)
        self.counter = make_counter(quiet)
        self.inventory = Inventory(self.cfg)
        self._trackers: dict[str, Any] = {}
        self._generators: dict[str, Generator] = {}

    # ---- the run, top to bottom -------------------------------------------------------------
    def run(self, source: str | Path, driving: str | Path, output: str | Path, *, overwrite: bool = False,
            **options: Any) -> RunResult:
        """Animate `source` with `driving` (a video, an image, or 'preset:NAME') into `output`.

        Keyword options are those of `RUN_OPTIONS` (engine, mode, expression_scale, pose_scale,
        smoothing, pasteback, audio, max_frames, fps, cache, face_index, …); None means "config".
        """
        cfg = self._with_options(options)
        run = cfg.run
        timer = _Timer()
        # 1. inputs, output and the plan
        source = _source_image(source)
        drive = DrivingSource.open(driving)
        if drive.kind == "track":
            raise InputError("the main job needs a video, an image or preset:NAME as driving; "
                             "a saved track drives `reenact guidance`")
        output = check_output(output, [source, *drive.inputs], overwrite)
        # output kind and suffix, and the sidecar: settled before any work (io/paths.py, io/writer.py)
        out_kind = output_format(output, still=drive.kind == "image")
        check_output(_sidecar(output), [source, *drive.inputs], overwrite, kind="file")
        plan = make_plan(cfg, drive.kind, self.inventory)
        log.info(plan.line())
        generator = self._generator(plan.engine, cfg)
        # 2. faces
        face_opts = for_magicportrait(FaceOptions.from_config(cfg.faces), plan.engine == "diffusion")
        with timer.stage("faces"):
            image = read_image(source, float(run.max_megapixels))
            full = image.shape[:2]
            image = fit_megapixels(image, float(run.max_output_megapixels))
            if image.shape[:2] != full:
                log.info("source scaled from %dx%d to %dx%d (run.max_output_megapixels=%g)", full[1], full[0],
                         image.shape[1], image.shape[0], run.max_output_megapixels)
            src_faces = detect_faces([image], 0.0, face_opts, video=False, source_name=str(source))
            drv_faces = self._driving_faces(drive, src_faces, face_opts, cfg)
        fps = drive.fps(run.fps)
        drv_faces, clock = _on_even_clock(drv_faces, fps)
        # 3. tracking
        with timer.stage("tracking"):
            src_head = self._track(src_faces, plan.tracker, cfg, frames=lambda: [image])
            drv_head = self._track(drv_faces, plan.tracker, cfg,
                                   self._cache_key(drive, face_opts, plan.tracker, cfg,
                                                   fps if clock is not None else None),
                                   frames=_frames_of(drive, run.max_frames, clock))
        # 4. alignment
        with timer.stage("align"):
            options = dataclasses.replace(AlignOptions.from_config(cfg.align), mode=plan.alignment)
            aligned = align(src_head, drv_head, options)
            arrival = None
            if drive.kind == "image":  # a still: ease into its expression (an image out needs only the arrival)
                arrival = _ease_weights(2 if out_kind == "image" else max(2, round(fps * run.still_seconds)))
                aligned = _ease_in(aligned, arrival)
        # 5. generation, 6. writing (streamed: frames go to the writer as they are made)
        context = SourceContext(image=image, faces=src_faces, head=src_head,
                                driving=_driving_view(drive, drv_faces, drv_head, run.max_frames, len(aligned),
                                                      float(run.max_megapixels), arrival, clock))
        frames = generator.frames(context, aligned, bool(run.pasteback), self.progress)
        audio = drive.path if (run.audio and drive.has_audio) else None
        if audio is not None and out_kind == "animation":
            log.info("%s holds no sound: the driving's audio is left out (write an .mp4 to keep it)", output.name)
            audio = None
        # the frames made while the ones before are encoded (io/prefetch.py)
        n = self._write(output, out_kind, prefetched(timer.iterate("generate", frames), name="generate"), fps, audio,
                        timer)
        config_path = self._write_config(output, cfg, plan)
        log.info("wrote %s (%d frame(s))", output, n)
        return RunResult(output=output, frames=n, fps=fps, plan=plan, timings=dict(timer.seconds),
                         config_path=config_path)

    def track(self, path: str | Path, output: str | Path, *, backend: str | None = None, overwrite: bool = False,
              max_frames: int | None = None) -> Path:
        """Track a driving video or a source image into a HeadTrack .npz (`reenact track`)."""
        path = require_input_file(path, "input")
        output = check_output(output, [path], overwrite)
        plan = plan_maps(self.cfg, self.inventory, backend, "image" if is_image_path(path) else "video")
        log.info(plan.line())
        faces = detect_in_file(path, FaceOptions.from_config(self.cfg.faces), max_frames, self.progress)
        frames = (lambda: [read_image(path)]) if is_image_path(path) else _frames_of(DrivingSource.open(path), max_frames)
        head = self._track(faces, plan.tracker, self.cfg, frames=frames)
        with atomic_path(output) as tmp:
            with open(tmp, "wb") as fh:
                head.save(fh)
        log.info("wrote %s (%d frame(s), %s backend, median residual %.2f px)", output, len(head), plan.tracker,
                 float(np.median(head.residuals)) if len(head) else 0.0)
        return output

    def guidance(self, source: str | Path, driving: str | Path, out_dir: str | Path, *, backend: str | None = None,
                 preview: str | Path | None = None, overwrite: bool = False, image_format: str | None = None,
                 **options: Any) -> Path:
        """Depth / normal / render guidance maps of the source under the driving motion, as PNG (or,
        image_format "jpg", the official JPEG q75) folders in the official layout (`reenact
        guidance`); optionally a side-by-side preview video."""
        from .geometry.guidance import GuidanceRenderer
        from .render.write import iter_preview_frames, write_guidance

        cfg = self._with_options(options)
        source = _source_image(source)
        drive = DrivingSource.open(driving)
        out_dir = check_output(out_dir, [source, *drive.inputs], overwrite, kind="into")
        preview = check_output(preview, [source, *drive.inputs], overwrite) if preview else None
        saved = HeadTrack.load(drive.path) if drive.kind == "track" else None
        plan = plan_maps(cfg, self.inventory, saved.backend if saved else backend, drive.kind)
        log.info(plan.line())
        face_opts = for_magicportrait(FaceOptions.from_config(cfg.faces), True)   # the maps feed MagicPortrait
        image = read_image(source, float(cfg.run.max_megapixels))
        src_faces = detect_faces([image], 0.0, face_opts, video=False, source_name=str(source))
        fps, clock, drv_head = drive.fps(cfg.run.fps), None, saved
        if drv_head is None:
            drv_faces, clock = _on_even_clock(self._driving_faces(drive, src_faces, face_opts, cfg), fps)
            drv_head = self._track(drv_faces, plan.tracker, cfg,
                                   self._cache_key(drive, face_opts, plan.tracker, cfg,
                                                   fps if clock is not None else None),
                                   frames=_frames_of(drive, cfg.run.max_frames, clock))
        src_head = self._track(src_faces, plan.tracker, cfg, frames=lambda: [image])
        aligned = align(src_head, drv_head, dataclasses.replace(AlignOptions.from_config(cfg.align),
                                                                mode=plan.alignment))
        total, batches = GuidanceRenderer.from_config(cfg, src_head.geometry).batches(src_head, aligned)
        batches = self.progress(batches, None, "guidance")
        meta = {"source": str(source)}
        image_format = image_format or str(cfg.render.format)
        if preview is None:
            write_guidance(out_dir, batches, total=total, overwrite=overwrite, meta=meta, image_format=image_format)
        else:
            from .io.writer import open_writer

            driving_frames = iter(_frames_of(drive, cfg.run.max_frames, clock)() if drive.kind == "video"
                                  else (image for _ in range(total)))
            with open_writer(preview, fps) as write:
                def show(batch):  # the preview is made from the same batches, not rendered twice
                    for row in iter_preview_frames(image, driving_frames, [batch]):
                        write(row)

                write_guidance(out_dir, batches, total=total, overwrite=overwrite, meta=meta, on_batch=show,
                               image_format=image_format)
        log.info("wrote %s (%d frame(s) of depth, normal and render)", out_dir, total)
        return out_dir

    # ---- stages ------------------------------------------------------------------------------
    def _with_options(self, options: dict[str, Any]) -> DictConfig:
        unknown = sorted(set(options) - set(RUN_OPTIONS))
        if unknown:
            raise InputError(f"unknown run option {unknown[0]!r}; known: {', '.join(sorted(RUN_OPTIONS))}")
        return override(self.cfg, {RUN_OPTIONS[k]: v for k, v in options.items()}, "option")

    def _generator(self, engine: str, cfg: DictConfig) -> Generator:
        """One generator per engine for the Reenactor's life: weights load once for many runs."""
        if engine not in self._generators:
            self._generators[engine] = make_generator(engine, cfg)
        return self._generators[engine]

    def _driving_faces(self, drive: DrivingSource, source: FaceTrack, opts: FaceOptions, cfg) -> FaceTrack:
        """The driving's face track. `faces.face_index` picks the source's face; the driving's is its
        largest (and then the one followed from frame to frame)."""
        run = cfg.run
        opts = dataclasses.replace(opts, face_index=None)
        if drive.kind == "preset":
            fps = drive.fps(run.fps)
            seconds = float(run.preset_seconds) if not run.max_frames else min(float(run.preset_seconds),
                                                                                run.max_frames / fps)
            return preset_track(drive.preset, source, fps=fps, seconds=seconds)
        if drive.kind == "image":
            still = detect_faces([drive.picture(float(run.max_megapixels))], 0.0, opts, video=False,
                                 source_name=str(drive.path))
            return _still_pair(source, still)
        key = self._cache_key(drive, opts, "faces", cfg)
        cache = self._cache(cfg)
        cached = cache.load(key, "faces", FaceTrack.load) if key else None
        if cached is not None:
            log.info("driving landmarks: reused from cache")
            return cached
        track = detect_in_file(drive.path, opts, run.max_frames, self.progress)
        if key:
            cache.put(key, "faces", track.save)
        return track

    def _track(self, faces: FaceTrack, backend: str, cfg, cache_key: str | None = None, frames=None) -> HeadTrack:
        """frames: None, or a zero-argument callable giving the track's RGB frames again (issue 12:
        the FLAME tracker's optional DECA/SMIRK encoders and both trackers' mouth check read pixels)."""
        if backend not in self._trackers:  # FLAME loads once for the source and the driving
            self._trackers[backend] = make_tracker(backend, cfg)
        tracker = self._trackers[backend]
        kind = f"head-{backend}{getattr(tracker, 'cache_tag', '')}"
        cache = self._cache(cfg)
        if cache_key and (hit := cache.load(cache_key, kind, HeadTrack.load)) is not None:
            return hit
        progress = self.counter(f"tracking ({backend})") if len(faces) > 1 else None
        # frames go to a backend that reads pixels (its track takes `frames`); a plug-in need not
        takes_frames = frames is not None and "frames" in inspect.signature(tracker.track).parameters
        head = tracker.track(faces, progress, frames=frames) if takes_frames else tracker.track(faces, progress)
        if cache_key:
            cache.put(cache_key, kind, head.save)
        return head

    def _write(self, output: Path, out_kind: str, frames, fps: float, audio: Path | None, timer: _Timer) -> int:
        from .io.writer import open_writer

        count = 0
        if out_kind == "image":
            last = None
            for last in frames:
                count += 1
            with timer.stage("write"):
                write_image(output, last)
            return count
        with open_writer(output, fps, audio_from=audio) as write:
            for frame in frames:
                with timer.stage("write"):
                    write(frame)
                count += 1
        return count

    def _write_config(self, output: Path, cfg: DictConfig, plan: Plan) -> Path | None:
        """The resolved configuration next to the output, so the result can be reproduced."""
        resolved = override(cfg, {f"{s}.{k}": v for s, d in plan.as_config().items() for k, v in d.items()}, "plan")
        target = _sidecar(output)
        try:
            with atomic_path(target) as tmp:
                tmp.write_text(to_yaml(resolved, header=f"# reenact {__version__}, {plan.line()}\n"))
        except OSError:
            return None
        return target

    # ---- caching -----------------------------------------------------------------------------
    def _cache(self, cfg) -> TrackCache:
        return TrackCache(cache_dir(cfg), enabled=bool(cfg.run.cache))

    def _cache_key(self, drive: DrivingSource, opts: FaceOptions, backend: str, cfg,
                   even_clock_fps: float | None = None) -> str | None:
        """The cache's key for one of a driving video's tracks; `even_clock_fps`: a track of its
        frames taken on an even clock at that rate (faces/clock.py), None: frame by frame."""
        if drive.kind != "video" or not cfg.run.cache:
            return None
        from omegaconf import OmegaConf

        settings = {"faces": vars(opts), "backend": backend, "max_frames": cfg.run.max_frames,
                    "tracking": OmegaConf.to_container(cfg.tracking, resolve=True), "code": code_digest()}
        if even_clock_fps is not None:
            settings["even_clock_fps"] = float(even_clock_fps)
        return self._cache(cfg).key(drive.path, settings, digest=drive.digest())


def _source_image(source: str | Path) -> Path:
    source = require_input_file(source, "source")
    if not has_image_suffix(source):
        raise InputError(f"--source must be an image (jpg, png, …); got {source.name}")
    if is_animated_picture(source):
        raise InputError(f"--source must be a still picture; {source.name} is animated: save the frame to "
                         "animate as PNG or JPEG")
    return source


def _sidecar(output: Path) -> Path:
    """The resolved config next to an output: out.mp4 -> out.mp4.yaml."""
    return output.with_name(output.name + ".yaml")


def _on_even_clock(faces: FaceTrack, fps: float) -> tuple[FaceTrack, np.ndarray | None]:
    """The driving's face track with a frame for each tick of the output's even `fps` clock, and
    which decoded frame each is (faces/clock.py); as it is, and None, where it plays frame by frame."""
    clock = even_clock(faces.times, fps)
    if clock is None:
        return faces, None
    log.info("driving: its frames come at a variable rate or not at %.3g fps; the motion is taken at "
             "each output frame's moment (%d frames from %d), in step with its sound", fps, len(clock), len(faces))
    return faces.take(clock, fps), clock


def _frames_of(drive: DrivingSource, max_frames: int | None, clock: np.ndarray | None = None):
    """A callable giving a video's RGB frames again (on the even clock of `_on_even_clock`, when
    given), or None (a preset has no pixels; a still driving image is paired with the source by
    `_still_pair`, not one file's frames)."""
    if drive.kind == "video":
        from .io.video import iter_frames

        if clock is not None:
            return lambda: frames_on_clock(iter_frames(drive.path, max_frames=max_frames), clock)
        return lambda: iter_frames(drive.path, max_frames=max_frames)
    return None


def _driving_view(drive: DrivingSource, faces: FaceTrack, head: HeadTrack, max_frames: int | None,
                  frames: int, max_megapixels: float, arrival: np.ndarray | None = None,
                  clock: np.ndarray | None = None) -> DrivingView | None:
    """The driving's pictures for the generator (`frames` of them, as many as the motion has), with
    where each shows its mouth: a face found and not flagged by the tracker's confidence (a hand
    over the mouth). A still driving image stands for every frame easing into its expression (its
    track is the `_still_pair`: the source's face, then the still's), so its mouth is laid out as a
    video frame's is, each frame `arrival` (the ease's weights) of the way there; a preset has no
    pictures."""
    if drive.kind not in ("video", "image"):
        return None
    seen = np.asarray(faces.detected, bool).copy()
    confidence = head.params.get("confidence")
    if confidence is not None and len(confidence) == len(seen):
        seen &= np.asarray(confidence) > 0.5
    if drive.kind == "image":
        picture = drive.picture(max_megapixels)   # the one `_driving_faces` found the face in
        return DrivingView(lambda: repeat(picture, frames), np.repeat(faces.landmarks[-1:], frames, 0),
                           np.repeat(seen[-1:], frames), arrival)
    return DrivingView(_frames_of(drive, max_frames, clock), faces.landmarks, seen)


def _still_pair(source: FaceTrack, still: FaceTrack) -> FaceTrack:
    """A two-frame driving track: the source's own face (the neutral reference), then the still.

    Relative alignment then moves the source by the still's difference from the source.
    """
    def cat(name):
        return np.concatenate([getattr(source, name)[:1], getattr(still, name)[:1]])

    return FaceTrack(landmarks=cat("landmarks"), blendshapes=cat("blendshapes"), transforms=cat("transforms"),
                     boxes=cat("boxes"), crop_transforms=cat("crop_transforms"), detected=cat("detected"),
                     image_size=source.image_size, crop_size=source.crop_size, fps=0.0,
                     mouth=cat("mouth") if source.mouth is not None and still.mouth is not None else None,
                     eyes=cat("eyes") if source.eyes is not None and still.eyes is not None else None)


def _ease_weights(frames: int) -> np.ndarray:
    """(frames,) a smooth step from 0 to 1: how far each frame of a still's ease-in has arrived."""
    w = np.linspace(0.0, 1.0, frames)
    return w * w * (3 - 2 * w)


def _ease_in(aligned, w: np.ndarray):
    """Frames easing from alignment frame 0 to frame 1 by the weights `w` (`_ease_weights`: a still's
    expression arriving smoothly)."""
    frames = len(w)
    crop = np.repeat(aligned.crop_transform[:1], frames, 0)
    if isinstance(aligned, AlignedMesh):
        p = aligned.points
        points = p[0][None] * (1 - w[:, None, None]) + p[1][None] * w[:, None, None]
        return dataclasses.replace(aligned, points=points.astype(np.float32), crop_transform=crop)
    fields = {}
    for name in ("expression", "pose", "cam"):
        v = getattr(aligned, name)
        fields[name] = (v[0][None] * (1 - w[:, None]) + v[1][None] * w[:, None]).astype(v.dtype)
    return dataclasses.replace(aligned, crop_transform=crop, **fields)


def reenact(source: str | Path, driving: str | Path, output: str | Path, engine: str = "auto",
            overwrite: bool = False, **options: Any) -> RunResult:
    """Function form of `Reenactor(engine=engine).run(...)`."""
    return Reenactor(engine=engine).run(source, driving, output, overwrite=overwrite, **options)
