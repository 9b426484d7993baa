"""Many source/driving pairs with one loaded model (`reenact batch`).

Jobs come from a list file (one job a line: `SOURCE DRIVING [OUTPUT]`, `#` comments, paths relative
to the list file) or a folder with `source/` and `driving/` subfolders (every source with every
driving). One `Reenactor` runs them all, so the diffusion weights are read once. Under
`accelerate launch` each process takes every N-th job (its process index) on its own GPU, so jobs
spread over GPUs and machines without any coordination beyond the launcher.
"""

from __future__ import annotations

import logging
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from .errors import InputError, ReenactError
from .faces.presets import parse_preset
from .io.images import is_image_path
from .io.video import is_video_path

log = logging.getLogger("reenact")


@dataclass(frozen=True)
class BatchJob:
    source: Path
    driving: str          # a path, or preset:NAME
    output: Path


@dataclass
class BatchReport:
    done: list[BatchJob] = field(default_factory=list)
    skipped: list[BatchJob] = field(default_factory=list)           # output already there
    failed: list[tuple[BatchJob, str]] = field(default_factory=list)


def read_jobs(spec: str | Path, out_dir: str | Path, suffix: str = ".mp4") -> list[BatchJob]:
    """Jobs from a list file or a source/ + driving/ folder; outputs default to OUT_DIR/SOURCE__DRIVING.mp4."""
    spec, out_dir = Path(spec), Path(out_dir)
    if spec.is_dir():
        return _folder_jobs(spec, out_dir, suffix)
    if not spec.is_file():
        raise InputError(f"batch list not found: {spec}; give a text file of `SOURCE DRIVING [OUTPUT]` lines "
                         "or a folder with source/ and driving/")
    jobs = []
    for number, line in enumerate(spec.read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = shlex.split(line)
        if len(parts) not in (2, 3):
            raise InputError(f"{spec}:{number}: expected `SOURCE DRIVING [OUTPUT]`, got {line!r}")
        source = _relative(spec.parent, parts[0])
        driving = parts[1] if parse_preset(parts[1]) else str(_relative(spec.parent, parts[1]))
        output = _relative(out_dir, parts[2]) if len(parts) == 3 else out_dir / _output_name(source, driving, suffix)
        jobs.append(BatchJob(source, driving, output))
    if not jobs:
        raise InputError(f"{spec} lists no jobs")
    return jobs


def _relative(base: Path, value: str) -> Path:
    p = Path(value).expanduser()
    return p if p.is_absolute() else base / p


def _output_name(source: Path, driving: str, suffix: str) -> str:
    preset = parse_preset(driving)
    return f"{source.stem}__{preset or Path(driving).stem}{suffix}"


def _folder_jobs(folder: Path, out_dir: Path, suffix: str) -> list[BatchJob]:
    src_dir, drv_dir = folder / "source", folder / "driving"
    if not src_dir.is_dir() or not drv_dir.is_dir():
        raise InputError(f"{folder} needs source/ (portraits) and driving/ (videos) subfolders")
    sources = sorted(p for p in src_dir.iterdir() if is_image_path(p))
    drivings = sorted(p for p in drv_dir.iterdir() if is_video_path(p) or is_image_path(p))
    if not sources or not drivings:
        raise InputError(f"{folder}: no portraits in source/ or no videos in driving/")
    return [BatchJob(s, str(d), out_dir / _output_name(s, str(d), suffix)) for s in sources for d in drivings]


def shard(jobs: Sequence[BatchJob], index: int, count: int) -> list[BatchJob]:
    """Process `index` of `count` takes jobs index, index + count, ... (a fixed, disjoint split)."""
    if not 0 <= index < count:
        raise InputError(f"process index {index} outside 0..{count - 1}")
    return list(jobs[index::count])


def process_slot() -> tuple[int, int, str | None]:
    """(process index, process count, device) under `accelerate launch`; (0, 1, None) otherwise."""
    import os

    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 and "ACCELERATE_PROCESS_INDEX" not in os.environ:
        return 0, 1, None
    from .processes import process_state

    state = process_state()
    return state.process_index, state.num_processes, str(state.device)


def run_batch(reenactor: Any, jobs: Sequence[BatchJob], *, overwrite: bool = False, **options: Any) -> BatchReport:
    """Run each job with the same `Reenactor` (one weight load); a failing job is reported, not fatal.
    Existing outputs are skipped unless `overwrite`, so an interrupted batch resumes where it stopped."""
    report = BatchReport()
    for i, job in enumerate(jobs, 1):
        if job.output.exists() and not overwrite:
            report.skipped.append(job)
            continue
        log.info("[%d/%d] %s + %s -> %s", i, len(jobs), job.source.name, job.driving, job.output)
        try:
            job.output.parent.mkdir(parents=True, exist_ok=True)
            reenactor.run(job.source, job.driving, job.output, overwrite=overwrite, **options)
            report.done.append(job)
        except ReenactError as exc:
            log.error("[%d/%d] failed: %s", i, len(jobs), exc)
            report.failed.append((job, str(exc)))
    return report
