"""`run_eval`: generate every clip of a protocol, measure it, and write the report.

A run folder holds:
    run.json            the plan: protocol, inputs, settings, clip list, estimators
    sources/            self-reenactment source frames (PNG)
    outputs/<id>.mp4    generated clips
    clips/<id>.json     one clip's metrics (written as soon as the clip is done)
    features/           per-clip FID/FVD feature statistics
    strips/<id>.png     source | driving / output frames
    metrics.json, report.md, metrics.png

Running the same command again resumes: a clip whose json matches the current inputs and settings
is kept. Under `accelerate launch` every process takes the clips i, i+n, i+2n, … of the sorted
list, and the main process merges the clip files once all are done; each clip's numbers depend
only on that clip, so the split does not change them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path
from typing import Callable

from ..errors import AssetError, InputError, NotAvailableError, OutputError, ReenactError
from ..io.video import probe_video
from .clip_eval import PROTOCOL_METRICS, ClipJob, EvalOptions, evaluate_clip
from .estimators import Estimators
from .protocols import PROTOCOLS, cross_jobs, default_sources, extract_source_frame, list_images, list_videos, self_jobs
from .report import build_metrics, write_json, write_report

log = logging.getLogger("reenact")

# runner(source, driving, output, max_frames) -> an object with output/frames/fps/timings/engine
# (reenact.pipeline.RunResult), or None when it just wrote `output`.
Runner = Callable[[Path, Path, Path, "int | None"], object]
SCHEMA = 1


class PipelineRunner:
    """The default runner: reenact's own pipeline, built once and reused for every clip."""

    def __init__(self, engine: str, config=None):
        self.engine, self.config, self._reenactor = engine, config, None

    def __call__(self, source: Path, driving: Path, output: Path, max_frames: int | None):
        if self._reenactor is None:
            import importlib.util

            if importlib.util.find_spec("reenact.pipeline") is None:
                raise NotAvailableError("the end-to-end pipeline (reenact.pipeline) is not in this build, so "
                                        "there is nothing to evaluate; pass runner= to evaluate another generator")
            from ..pipeline import Reenactor

            self._reenactor = Reenactor(config=self.config, engine=self.engine, quiet=True)
        return self._reenactor.run(source, driving, output, overwrite=True, max_frames=max_frames)


def _shard() -> tuple[int, int, Callable[[], None], str | None]:
    """(process index, process count, barrier, torch device) under `accelerate launch`; one process
    (device chosen later, only if a network is loaded) otherwise."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return 0, 1, lambda: None, None
    from ..processes import process_state

    # a long shard keeps the others waiting at the final barrier: give it a day, not the default 30 min
    state = process_state(timeout=timedelta(hours=24))
    return state.process_index, state.num_processes, state.wait_for_everyone, str(state.device)


def _file_id(path: Path) -> dict:
    st = path.stat()
    return {"path": str(path.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _fingerprint(job: ClipJob, plan: dict, driving_only: bool) -> str:
    blob = {"schema": SCHEMA, "job": [job.id, job.protocol], "driving": _file_id(job.driving),
            "source": None if driving_only else _file_id(job.source),
            "engine": plan["engine"], "max_frames": plan["max_frames"], "options": plan["options"],
            "estimators": plan["estimators"]}
    return hashlib.sha256(json.dumps(blob, sort_keys=True).encode()).hexdigest()[:24]


def _result_fields(result, output: Path, engine: str) -> dict:
    if result is None:
        info = probe_video(output)
        return {"frames": info.frame_count, "fps": info.fps, "timings": {}, "engine": engine}
    return {"frames": int(getattr(result, "frames", 0) or 0), "fps": float(getattr(result, "fps", 0.0) or 0.0),
            "timings": {k: float(v) for k, v in (getattr(result, "timings", None) or {}).items()},
            "engine": str(getattr(result, "engine", engine))}


def _check_run_dir(out_dir: Path, inputs: list[Path]) -> Path:
    out_dir = Path(out_dir).expanduser()
    for folder in inputs:
        if folder is not None and out_dir.resolve() == Path(folder).expanduser().resolve():
            raise OutputError(f"run folder {out_dir} is an input folder; choose another -o")
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"{out_dir} is a file; the run folder must be a folder")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create run folder {out_dir}: {exc.strerror}") from None
    return out_dir


def _eval_settings(config, options: EvalOptions | None, weights_dir: Path | None) -> tuple[EvalOptions, Path]:
    from ..config import eval_weights_dir, load_config

    cfg = config if config is not None else load_config()
    opts = options or EvalOptions.from_config(cfg.eval)
    return opts, Path(weights_dir) if weights_dir is not None else eval_weights_dir(cfg)


def plan_jobs(protocol: str, videos: Path, sources: Path | None, out_dir: Path) -> tuple[list[ClipJob], Path | None]:
    if protocol not in PROTOCOLS:
        raise InputError(f"unknown protocol {protocol!r}; use one of {', '.join(PROTOCOLS)}")
    clips = list_videos(videos)
    if protocol == "self":
        return self_jobs(clips, out_dir / "sources"), None
    src_dir = Path(sources).expanduser() if sources is not None else default_sources(videos)
    if src_dir is None:
        raise InputError(f"cross-reenactment needs source portraits: pass --sources DIR (no source/ folder found "
                         f"next to {videos})")
    return cross_jobs(clips, list_images(src_dir)), src_dir


def run_eval(protocol: str, videos: Path, sources: Path | None, engine: str, out_dir: Path,
             max_frames: int | None, runner: Runner | None = None, *, config=None,
             options: EvalOptions | None = None, weights_dir: Path | None = None, progress=None,
             shard: tuple[int, int] | None = None, estimators: Estimators | None = None) -> Path:
    """Run one protocol ("self" or "cross") and write the report; returns the path of report.md.

    `runner(source, driving, output, max_frames)` generates one clip (default: reenact's pipeline
    with `engine`). `shard=(i, n)` runs only clips i, i+n, … and does not write the report (call
    `merge_run` when every shard is done); under `accelerate launch` this happens by itself.
    """
    if max_frames is not None and max_frames < 1:
        raise InputError(f"max_frames must be at least 1, got {max_frames}")
    videos = Path(videos).expanduser()
    out_dir = _check_run_dir(out_dir, [videos, sources])
    jobs, src_dir = plan_jobs(protocol, videos, sources, out_dir)
    opts, weights = _eval_settings(config, options, weights_dir)
    if shard is not None:
        index, count, barrier, device = shard[0], shard[1], (lambda: None), None
    else:
        index, count, barrier, device = _shard()
    own_estimators = estimators is None
    if own_estimators:
        estimators = Estimators.load(weights, device, set(PROTOCOL_METRICS[protocol]))
    plan = {
        "schema": SCHEMA, "protocol": protocol, "engine": engine, "videos": str(jobs[0].driving.parent),
        "sources": str(src_dir) if src_dir else None, "max_frames": max_frames, "options": asdict(opts),
        "weights_dir": str(weights), "estimators": _estimator_info(estimators, protocol),
        "clips": [{"id": j.id, "source": str(j.source), "driving": str(j.driving)} for j in jobs],
    }
    write_json(out_dir / "run.json", plan)   # every process writes the same plan
    runner = runner or PipelineRunner(engine, config)
    mine = jobs[index::count]
    items = progress(mine, len(mine), f"eval {protocol}") if progress else mine
    try:
        for job in items:
            _run_clip(job, plan, out_dir, runner, estimators, opts, max_frames)
    finally:
        if own_estimators:
            estimators.close()
    barrier()
    if shard is not None or index != 0:
        return out_dir / "report.md"
    return merge_run(out_dir)


def _estimator_info(est: Estimators, protocol: str) -> dict[str, dict]:
    info = {}
    for m in PROTOCOL_METRICS[protocol]:
        found = est.estimator(m)
        if found is None:
            info[m] = {"measured": False, "reason": est.reasons.get(m, "not measured: no estimator available")}
        else:
            info[m] = {"measured": True, "estimator": found[0], "version": found[1]}
    return info


def _run_clip(job: ClipJob, plan: dict, out_dir: Path, runner: Runner, est: Estimators, opts: EvalOptions,
              max_frames: int | None) -> dict:
    clip_file = out_dir / "clips" / f"{job.id}.json"
    fingerprint = _fingerprint(job, plan, driving_only=job.protocol == "self")
    if clip_file.is_file():
        try:
            previous = json.loads(clip_file.read_text())
        except (OSError, ValueError):
            previous = {}
        if previous.get("fingerprint") == fingerprint and not previous.get("error"):
            log.info("%s: kept from an earlier run", job.id)
            return previous
    output = out_dir / "outputs" / f"{job.id}.mp4"
    record = {"id": job.id, "protocol": job.protocol, "source": str(job.source), "driving": str(job.driving),
              "output": str(output.relative_to(out_dir)), "fingerprint": fingerprint}
    try:
        if job.protocol == "self":
            extract_source_frame(job.driving, opts.source_frame, job.source)
        output.parent.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        result = runner(job.source, job.driving, output, max_frames)
        record["run_seconds"] = time.perf_counter() - start
        produced = Path(getattr(result, "output", output) or output) if result is not None else output
        if not produced.is_file():
            raise OutputError(f"the generator wrote no video at {produced}")
        record.update(_result_fields(result, produced, plan["engine"]))
        record.update(evaluate_clip(job, produced, est, opts, max_frames, out_dir))
        log.info("%s: %s", job.id, ", ".join(f"{k} {v:.4g}" for k, v in record["metrics"].items() if v is not None))
    except (NotAvailableError, AssetError):
        raise   # the same for every clip: stop the run
    except ReenactError as exc:
        record["error"] = str(exc)
        log.warning("%s: failed: %s", job.id, exc)
    write_json(clip_file, record)
    return record


def merge_run(out_dir: Path, plot_backend: str = "auto") -> Path:
    """Gather clips/*.json of a run (all shards) into metrics.json, report.md and metrics.png."""
    out_dir = Path(out_dir)
    plan_file = out_dir / "run.json"
    if not plan_file.is_file():
        raise InputError(f"{out_dir} is not an evaluation run folder (no run.json)")
    plan = json.loads(plan_file.read_text())
    clips = []
    for entry in plan["clips"]:
        f = out_dir / "clips" / f"{entry['id']}.json"
        if f.is_file():
            clip = json.loads(f.read_text())
            clip.pop("fingerprint", None)
            clips.append(clip)
        else:
            clips.append({"id": entry["id"], "error": "not evaluated (its process did not finish)"})
    metrics = build_metrics(plan, clips, out_dir)
    write_json(out_dir / "metrics.json", metrics)
    return write_report(out_dir, metrics, plot_backend)
