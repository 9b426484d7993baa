"""Benchmark evaluation: self- and cross-reenactment protocols, metrics, and a readable report.

`run_eval(protocol, videos, sources, engine, out_dir, max_frames, runner=None)` is the entry point
(the `reenact eval` command calls it); the metric functions in `pixel_metrics`, `face_metrics` and
`frechet` are pure functions of arrays.
"""

from .clip_eval import ClipJob, EvalOptions
from .harness import PipelineRunner, merge_run, run_eval

__all__ = ["ClipJob", "EvalOptions", "PipelineRunner", "merge_run", "run_eval"]
