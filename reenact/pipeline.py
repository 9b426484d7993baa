"""End to end: source portrait + driving motion → video. The CLI is a thin layer over `Reenactor`.

    from reenact import Reenactor
    result = Reenactor(engine="warp").run("face.jpg", "clip.mp4", "out.mp4")
    print(result.output, result.timings)
"""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
from omegaconf import DictConfig, OmegaConf

from .config import load_config, resolve_path, to_yaml
from .errors import InputError, NotAvailableError
from .faces import FaceOptions, FaceTrack, detect_faces, detect_in_file
from .faces.presets import parse_preset, preset_track
from .generate.base import SourceContext, make_generator
from .io.images import is_image_path, read_image, write_image
from .io.paths import check_output, require_input_file
from .io.video import probe_video

log = logging.getLogger("reenact")

ENGINES = ("auto", "warp", "diffusion")


@dataclass
class RunResult:
    output: Path
    frames: int
    fps: float
    engine: str
    backend: str
    timings: dict[str, float] = field(default_factory=dict)   # seconds per stage
    config_path: Path | None = None


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
    """The whole pipeline with one configuration; reuse it for several runs."""

    def __init__(self, config: DictConfig | str | Path | None = None, engine: str | None = None,
                 quiet: bool = True, progress=None, overrides: list[str] | tuple[str, ...] = ()):
        cfg = config if isinstance(config, DictConfig) else load_config(config, overrides)
        if engine is not None:
            cfg.run.engine = engine
        if cfg.run.engine not in ENGINES:
            raise InputError(f"unknown engine {cfg.run.engine!r}; choose one of {', '.join(ENGINES)}")
        self.cfg = cfg
        from .progress import make_counter, make_progress

        self.progress = progress or make_progress(quiet)
        self.counter = make_counter(quiet)
        self._trackers: dict[str, Any] = {}

    # ---- the run, top to bottom -------------------------------------------------------------
    def run(self, source: str | Path, driving: str | Path, output: str | Path, *, overwrite: bool = False,
            **options: Any) -> RunResult:
        """Animate `source` with `driving` (a video, an image, or 'preset:NAME') into `output`.

        Keyword options override the config's `run` and `align` sections (engine, mode,
        expression_scale, pose_scale, smoothing, pasteback, audio, max_frames, fps, …).
        """
        cfg = self._with_options(options)
        run = cfg.run
        timer = _Timer()
        # 1. check inputs and output
        source = require_input_file(source, "source")
        if not is_image_path(source):
            raise InputError(f"--source must be an image (jpg, png, …); got {source.name}")
        preset = parse_preset(str(driving))
        driving_path = None if preset else require_input_file(driving, "driving")
        output = check_output(output, [p for p in (source, driving_path) if p], overwrite)
        engine_name = self._choose_engine(run.engine, cfg)
        generator = make_generator(engine_name, cfg)
        backend = generator.backend
        # 2. faces
        face_opts = FaceOptions.from_config(cfg.faces)
        with timer.stage("faces"):
            image = read_image(source)
            src_faces = detect_faces([image], 0.0, face_opts, video=False, source_name=str(source))
            drv_faces, fps, still = self._driving_faces(preset, driving_path, src_faces, face_opts, run)
        # 3. tracking
        with timer.stage("tracking"):
            src_head = self._track(src_faces, backend, cfg, cache_key=None)
            drv_head = self._track(drv_faces, backend, cfg, cache_key=self._cache_key(driving_path, face_opts, backend, run))
        # 4. alignment
        with timer.stage("align"):
            aligned = self._align(src_head, drv_head, cfg.align, backend)
            if still:  # a still image out needs only the arrival frame
                eased = 2 if is_image_path(output) else max(2, int(round(fps * run.still_seconds)))
                aligned = _ease_in(aligned, frames=eased)
        # 5. generation, 6. writing (streamed: frames go to the writer as they are made)
        context = SourceContext(image=image, faces=src_faces, head=src_head)
        frames = generator.frames(context, aligned, bool(run.pasteback), self.progress)
        audio = driving_path if (run.audio and driving_path and not still and _has_audio(driving_path)) else None
        n = self._write(output, timer.iterate("generate", frames), fps, audio, timer, still_image=is_image_path(output))
        config_path = self._write_config(output, cfg, engine_name, backend)
        log.info("wrote %s (%d frame(s), %s engine, %s geometry)", output, n, engine_name, backend)
        return RunResult(output=output, frames=n, fps=fps, engine=engine_name, backend=backend,
                         timings=dict(timer.seconds), config_path=config_path)

    def track(self, path: str | Path, output: str | Path, *, backend: str = "auto", overwrite: bool = False,
              max_frames: int | None = None) -> Path:
        """Track a driving video or a source image into a HeadTrack .npz (`reenact track`)."""
        from .io.paths import atomic_path
        from .tracking.base import resolve_backend

        path = require_input_file(path, "input")
        output = check_output(output, [path], overwrite)
        backend = resolve_backend(backend, self.cfg)
        faces = detect_in_file(path, FaceOptions.from_config(self.cfg.faces), max_frames, self.progress)
        head = self._track(faces, backend, self.cfg, cache_key=None)
        with atomic_path(output) as tmp:
            with open(tmp, "wb") as fh:
                head.save(fh)
        log.info("wrote %s (%d frame(s), %s backend, median residual %.2f px)", output, len(head), backend,
                 float(np.median(head.residuals)) if len(head) else 0.0)
        return output

    def guidance(self, source: str | Path, driving: str | Path, out_dir: str | Path, *, backend: str = "auto",
                 preview: str | Path | None = None, overwrite: bool = False, **options: Any) -> Path:
        """Depth / normal / render guidance maps of the source under the driving motion, as PNG
        folders in the official layout (`reenact guidance`); optionally a side-by-side preview video."""
        from .geometry.align import AlignOptions
        from .tracking.base import resolve_backend
        from .tracking.types import HeadTrack

        cfg = self._with_options(options)
        source = require_input_file(source, "source")
        preset = parse_preset(str(driving))
        driving_path = None if preset else require_input_file(driving, "driving")
        out_dir = check_output(out_dir, [p for p in (source, driving_path) if p], overwrite)
        preview = check_output(preview, [source, driving_path], overwrite) if preview else None
        face_opts = FaceOptions.from_config(cfg.faces)
        image = read_image(source)
        src_faces = detect_faces([image], 0.0, face_opts, video=False, source_name=str(source))
        if driving_path is not None and driving_path.suffix == ".npz":
            drv_head = HeadTrack.load(driving_path)
            backend = drv_head.backend
        else:
            backend = resolve_backend(backend, cfg)
            drv_faces, _, _ = self._driving_faces(preset, driving_path, src_faces, face_opts, cfg.run)
            drv_head = self._track(drv_faces, backend, cfg,
                                   cache_key=self._cache_key(driving_path, face_opts, backend, cfg.run))
        src_head = self._track(src_faces, backend, cfg, cache_key=None)
        total, batches = self._guidance_batches(src_head, drv_head, AlignOptions.from_config(cfg.align), cfg)
        from .render.write import iter_preview_frames, write_guidance

        batches = self.progress(batches, None, "guidance")
        if preview is None:
            write_guidance(out_dir, batches, total=total, overwrite=overwrite, meta={"source": str(source)})
        else:
            from .io.video import iter_frames
            from .io.writer import open_writer

            has_frames = driving_path is not None and driving_path.suffix != ".npz" and not is_image_path(driving_path)
            driving_frames = iter(iter_frames(driving_path, max_frames=total) if has_frames
                                  else (image for _ in range(total)))
            with open_writer(preview, float(cfg.run.fps or 25.0)) as write:
                def show(batch):  # the preview is made from the same batches, not rendered twice
                    for row in iter_preview_frames(image, driving_frames, [batch]):
                        write(row)

                write_guidance(out_dir, batches, total=total, overwrite=overwrite, meta={"source": str(source)},
                               on_batch=show)
        log.info("wrote %s (%d frame(s) of depth, normal and render, %s geometry)", out_dir, total, backend)
        return out_dir

    def _guidance_batches(self, src_head, drv_head, align_options, cfg):
        """(frame count, GuidanceFrames batches) with the FLAME model and topology when needed."""
        from .geometry.guidance import guidance_from_tracks

        flame = topology = None
        if drv_head.backend == "flame":
            flame, topology = _flame_renderer(cfg)
        # the maps cover the source's square crop, as the official tool's 512 source crop
        size = int(cfg.render.size)
        canvas_from_frame = src_head.crop_transforms[0].astype(np.float64) * (size / src_head.crop_size)
        return guidance_from_tracks(
            src_head, drv_head, options=align_options, flame=flame, topology=topology,
            canvas_from_frame=canvas_from_frame,
            texture_path=resolve_path(cfg.render.flame_texture), constant_albedo=list(cfg.render.constant_albedo),
            size=size, batch_size=int(cfg.render.batch_size), backend=str(cfg.render.backend))

    # ---- stages ------------------------------------------------------------------------------
    def _with_options(self, options: dict[str, Any]) -> DictConfig:
        cfg = OmegaConf.create(OmegaConf.to_container(self.cfg, resolve=True))
        for key, value in options.items():
            if value is None:
                continue
            if key == "face_index":
                cfg.faces.face_index = value
            elif key in cfg.run:
                cfg.run[key] = value
            elif key in cfg.align:
                cfg.align[key] = value
            else:
                known = sorted(set(cfg.run) | set(cfg.align))
                raise InputError(f"unknown run option {key!r}; known: {', '.join(known)}")
        return cfg

    def _choose_engine(self, requested: str, cfg) -> str:
        from .doctor import diffusion_ready, flame_ready

        diffusion_ok, why = diffusion_ready(cfg)
        if requested == "diffusion":
            if not diffusion_ok:
                raise NotAvailableError(f"the diffusion engine cannot run: {why}")
            return "diffusion"
        if requested == "warp":
            return "warp"
        if diffusion_ok and flame_ready(cfg):
            log.info("engine: diffusion (MagicPortrait weights and FLAME found); --engine warp for the fast preview engine")
            return "diffusion"
        log.info("engine: warp (no learned weights); for MagicPortrait quality add FLAME and the diffusion "
                 "weights (`reenact doctor` says what is missing) — %s", why)
        return "warp"

    def _driving_faces(self, preset: str | None, path: Path | None, source: FaceTrack, opts: FaceOptions,
                       run) -> tuple[FaceTrack, float, bool]:
        """The driving face track, its frame rate, and whether it is a single still."""
        if preset:
            fps = float(run.fps or 25.0)
            return preset_track(preset, source, fps=fps, seconds=float(run.preset_seconds)), fps, False
        if is_image_path(path):
            image = read_image(path)
            still = detect_faces([image], 0.0, opts, video=False, source_name=str(path))
            return _still_pair(source, still), float(run.fps or 25.0), True
        info = probe_video(path)
        key = self._cache_key(path, opts, "faces", run)
        cached = self._cache().get(key, "faces") if key else None
        if cached is not None:
            track = FaceTrack.load(cached)
            log.info("driving landmarks: reused from cache")
        else:
            track = detect_in_file(path, opts, run.max_frames, self.progress)
            if key:
                self._cache().put(key, "faces", track.save)
        fps = float(run.fps or info.fps or 25.0)
        return track, fps, False

    def _track(self, faces: FaceTrack, backend: str, cfg, cache_key: str | None):
        from .tracking.base import make_tracker
        from .tracking.types import HeadTrack

        cache = self._cache()
        if cache_key and (hit := cache.get(cache_key, f"head-{backend}")) is not None:
            return HeadTrack.load(hit)
        if backend not in self._trackers:  # FLAME loads once for the source and the driving
            self._trackers[backend] = make_tracker(backend, cfg)
        head = self._trackers[backend].track(faces, self.counter(f"tracking ({backend})") if len(faces) > 1 else None)
        if cache_key:
            cache.put(cache_key, f"head-{backend}", head.save)
        return head

    def _align(self, source, driving, align_cfg, backend: str):
        from .geometry.align import AlignOptions, align

        return align(source, driving, AlignOptions.from_config(align_cfg))

    def _write(self, output: Path, frames, fps: float, audio: Path | None, timer: _Timer, still_image: bool) -> int:
        from .io.writer import open_writer

        count = 0
        if still_image:
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

    def _write_config(self, output: Path, cfg, engine: str, backend: str) -> Path | None:
        """The resolved configuration next to the output, so the result can be reproduced."""
        from .io.paths import atomic_path

        resolved = OmegaConf.merge(cfg, {"run": {"engine": engine, "backend": backend}})
        target = output.with_name(output.name + ".yaml")
        try:
            with atomic_path(target) as tmp:
                tmp.write_text(to_yaml(resolved))
        except OSError:
            return None
        return target

    # ---- caching -----------------------------------------------------------------------------
    def _cache(self):
        from .cache import TrackCache

        return TrackCache(resolve_path(self.cfg.paths.cache_dir), enabled=bool(self.cfg.run.cache))

    def _cache_key(self, path: Path | None, opts: FaceOptions, backend: str, run) -> str | None:
        if path is None or not run.cache or is_image_path(path):
            return None
        settings = {"faces": vars(opts), "backend": backend, "max_frames": run.max_frames,
                    "tracking": OmegaConf.to_container(self.cfg.tracking, resolve=True) if "tracking" in self.cfg else {}}
        return self._cache().key(path, settings)


def _flame_renderer(cfg):
    """The FLAME forward pass and mesh topology the guidance maps are rendered with."""
    import torch

    from .errors import AssetError
    from .flame.assets import find_flame_files
    from .flame.model import load_flame_model
    from .geometry.guidance import FlameTopology

    files = find_flame_files(cfg)
    if files.model is None:
        raise AssetError("FLAME guidance maps need the FLAME model in flame_assets/ (see `reenact doctor`)")
    model = load_flame_model(files.model)
    template = resolve_path(cfg.render.head_template)
    if template.is_file():
        topology = FlameTopology.from_obj(template)
    else:
        # without DECA's head_template.obj there are no texture coordinates: the model's own
        # triangles, and the render map in its constant albedo
        log.info("no %s: the render map uses a constant albedo", template)
        topology = FlameTopology(torch.as_tensor(model.faces, dtype=torch.int64))

    def flame(shape, expression, pose):
        # pose (B, 15) = [global | neck | jaw | left eye | right eye], FLAME's joint order
        return model(shape=shape, expression=expression, global_rot=pose[:, :3], neck=pose[:, 3:6],
                     jaw=pose[:, 6:9], eyes=pose[:, 9:15]).vertices

    return flame, topology


def _has_audio(path: Path) -> bool:
    try:
        return probe_video(path).has_audio
    except InputError:
        return False


def _still_pair(source: FaceTrack, still: FaceTrack) -> FaceTrack:
    """A two-frame driving track: the source's own face (the neutral reference), then the still.

    Relative alignment then moves the source by the still's difference from the source.
    """
    def cat(name):
        return np.concatenate([getattr(source, name)[:1], getattr(still, name)[:1]])

    return FaceTrack(landmarks=cat("landmarks"), blendshapes=cat("blendshapes"), transforms=cat("transforms"),
                     boxes=cat("boxes"), crop_transforms=cat("crop_transforms"), detected=cat("detected"),
                     image_size=source.image_size, crop_size=source.crop_size, fps=0.0)


def _ease_in(aligned, frames: int):
    """Frames easing from alignment frame 0 to frame 1 (a still's expression arriving smoothly)."""
    import dataclasses

    w = np.linspace(0.0, 1.0, frames)
    w = w * w * (3 - 2 * w)
    if hasattr(aligned, "points"):
        p = aligned.points
        points = p[0][None] * (1 - w[:, None, None]) + p[1][None] * w[:, None, None]
        return dataclasses.replace(aligned, points=points.astype(np.float32),
                                   crop_transform=np.repeat(aligned.crop_transform[:1], frames, 0))
    fields = {}
    for name in ("expression", "pose", "cam"):
        v = getattr(aligned, name)
        fields[name] = (v[0][None] * (1 - w[:, None]) + v[1][None] * w[:, None]).astype(v.dtype)
    return dataclasses.replace(aligned, crop_transform=np.repeat(aligned.crop_transform[:1], frames, 0), **fields)


def reenact(source: str | Path, driving: str | Path, output: str | Path, engine: str = "auto",
            overwrite: bool = False, **options: Any) -> RunResult:
    """Function form of `Reenactor(engine=engine).run(...)`."""
    return Reenactor(engine=engine).run(source, driving, output, overwrite=overwrite, **options)
