"""Measure one generated clip against its inputs: one pass over the frames, then the face estimators
on a fixed, evenly spaced subset of frames.

Frame pairing: output frame t is compared with driving frame t (in self-reenactment the driving
clip is the ground truth). An output of another size is resized to the frame it is compared with.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..errors import InputError
from ..io.images import read_image
from ..faces.clock import even_clock, frames_on_clock
from ..io.video import frame_times, iter_frames, probe_video
from ..schema import EvalOptions
from . import face_metrics as fm
from . import pixel_metrics as pm
from .estimators import Estimators, FaceReading
from .figures import write_strip
from .frechet import FeatureStats

log = logging.getLogger("reenact")

PROTOCOL_METRICS = {
    "self": ("l1", "psnr", "ssim", "lpips", "fid", "fvd", "csim", "aed", "apd", "akd", "bg_rmse", "flicker",
             "aed_smirk", "apd_deca"),
    "cross": ("fid", "fvd", "csim", "aed", "apd", "bg_rmse", "flicker", "aed_smirk", "apd_deca"),
}


@dataclass
class ClipJob:
    id: str
    protocol: str                # "self" | "cross"
    source: Path                 # the portrait given to the generator
    driving: Path                # the driving video (self: also the ground truth)


def sample_times(count: int, k: int) -> list[int]:
    """k evenly spaced frame indices in [0, count), first and last included, no repeats."""
    if count <= 0 or k <= 0:
        return []
    return sorted({int(round(v)) for v in np.linspace(0, count - 1, min(k, count))})


def _fit(frame: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    if frame.shape[:2] == tuple(shape):
        return frame
    return cv2.resize(frame, (shape[1], shape[0]), interpolation=cv2.INTER_AREA)


class _Features:
    """Batched feature extraction into running Fréchet statistics."""

    def __init__(self, net, batch: int):
        self.net, self.batch, self.pending = net, batch, []
        self.stats: FeatureStats | None = None

    def add(self, item: np.ndarray) -> None:
        self.pending.append(item)
        if len(self.pending) >= self.batch:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            feats = self.net(self.pending)
            if self.stats is None:
                self.stats = FeatureStats.empty(feats.shape[1])
            self.stats.add(feats)
            self.pending = []


class _RealismFeatures:
    """FID (per frame) and FVD (per window of `fvd_frames`) features of the output and the real
    driving frames of one clip, saved as statistics that merge over clips and processes."""

    def __init__(self, est: Estimators, opts: EvalOptions, wanted):
        self.est, self.window = est, opts.fvd_frames
        self.sets: dict[str, _Features] = {}
        if est.inception is not None and "fid" in wanted:
            self.sets.update(fid_out=_Features(est.inception, opts.batch), fid_real=_Features(est.inception, opts.batch))
        if est.i3d is not None and "fvd" in wanted:
            per_batch = max(1, opts.batch // opts.fvd_frames)
            self.sets.update(fvd_out=_Features(est.i3d, per_batch), fvd_real=_Features(est.i3d, per_batch))
        self.clip_out: list[np.ndarray] = []
        self.clip_real: list[np.ndarray] = []

    def add(self, out: np.ndarray, real: np.ndarray) -> None:
        if "fid_out" in self.sets:
            self.sets["fid_out"].add(out)
            self.sets["fid_real"].add(real)
        if "fvd_out" in self.sets:
            self.clip_out.append(self.est.i3d.prepare(out))
            self.clip_real.append(self.est.i3d.prepare(real))
            if len(self.clip_out) == self.window:
                self.sets["fvd_out"].add(np.stack(self.clip_out))
                self.sets["fvd_real"].add(np.stack(self.clip_real))
                self.clip_out, self.clip_real = [], []

    def save(self, folder: Path, clip_id: str, counts: dict) -> None:
        for name, feats in self.sets.items():
            feats.flush()
            if feats.stats is not None:
                folder.mkdir(parents=True, exist_ok=True)
                feats.stats.save(folder / f"{clip_id}.{name}.npz")
                counts[name.split("_")[0]] = feats.stats.count


def evaluate_clip(job: ClipJob, output: Path, est: Estimators, opts: EvalOptions, max_frames: int | None,
                  run_dir: Path) -> dict:
    """All per-clip metrics for `output`; writes the clip's strip and feature statistics under run_dir."""
    wanted = PROTOCOL_METRICS[job.protocol]
    source = read_image(job.source)
    out_info, drv_info = probe_video(output), probe_video(job.driving)
    drv_count = drv_info.frame_count if max_frames is None else min(drv_info.frame_count, max_frames)
    notes: list[str] = []
    driving_frames = iter_frames(job.driving, max_frames=max_frames)
    # a driving of variable frame rate is compared at the output's moments, as reenact takes it
    if (clock := even_clock(frame_times(job.driving, max_frames), out_info.fps)) is not None:
        driving_frames, drv_count = frames_on_clock(driving_frames, clock), len(clock)
        notes.append(f"the driving's frames do not come evenly at {out_info.fps:.3g} fps: compared at the "
                     "output frames' moments")
    expected = min(out_info.frame_count, drv_count) or max(out_info.frame_count, drv_count)
    face_times = set(sample_times(expected, opts.face_frames))

    per_frame: dict[str, list[float]] = {m: [] for m in ("l1", "psnr", "ssim", "lpips")}
    out_changes, drv_changes = [], []
    sampled: list[tuple[int, np.ndarray, np.ndarray]] = []
    realism = _RealismFeatures(est, opts, wanted)
    prev_out = prev_drv = None
    has_faces = est.mediapipe is not None or est.dlib is not None
    want_identity = "csim" in wanted and est.estimator("csim") is not None
    src_reading = est.reading(source, identity=want_identity, encoders=False) if has_faces else None
    out_region = drv_region = None
    n = 0
    for t, (drv, out) in enumerate(zip(driving_frames, iter_frames(output))):
        if n == 0 and out.shape[:2] != drv.shape[:2]:
            notes.append(f"output is {out.shape[1]}x{out.shape[0]}, driving {drv.shape[1]}x{drv.shape[0]}: "
                         "output resized for the comparisons")
        out_d = _fit(out, drv.shape[:2])
        if n == 0:
            out_region, drv_region = _motion_regions(est, job, source, src_reading, drv) if has_faces else (None, None)
        if job.protocol == "self":
            per_frame["l1"].append(pm.l1(out_d, drv))
            per_frame["psnr"].append(pm.psnr(out_d, drv, opts.psnr_cap))
            per_frame["ssim"].append(pm.ssim(out_d, drv))
            if est.lpips is not None:
                per_frame["lpips"].append(est.lpips(out_d, drv))
        if prev_out is not None:
            out_changes.append(pm.mean_abs_change(prev_out, out_d, out_region))
            drv_changes.append(pm.mean_abs_change(prev_drv, drv, drv_region))
        prev_out, prev_drv = out_d, drv
        realism.add(out, drv)
        if t in face_times:
            sampled.append((t, drv, out))
        n += 1
    if n == 0:
        raise InputError(f"{output} and {job.driving} have no frames in common")
    if out_info.frame_count < drv_count:
        notes.append(f"output has {out_info.frame_count} frames, driving {drv_count}: compared the first {n}")

    metrics: dict[str, float | None] = {m: None for m in wanted}
    counts: dict[str, int] = {}
    details: dict[str, object] = {}
    if job.protocol == "self":
        for m in ("l1", "psnr", "ssim", "lpips"):
            if per_frame[m]:
                metrics[m], counts[m] = float(np.mean(per_frame[m])), len(per_frame[m])
        details["psnr_frames_at_cap"] = int(sum(v >= opts.psnr_cap for v in per_frame["psnr"]))
    if out_changes:
        metrics["flicker"] = pm.flicker_ratio(np.array(out_changes), np.array(drv_changes))
        counts["flicker"] = len(out_changes)
        details["flicker"] = {"output_change": float(np.mean(out_changes)), "driving_change": float(np.mean(drv_changes)),
                              "region": "head" if out_region is not None else "whole frame"}

    realism.save(run_dir / "features", job.id, counts)

    if has_faces:
        _face_metrics(job, source, src_reading, sampled, est, opts, metrics, counts, details, notes)

    strip_rel = Path("strips") / f"{job.id}.png"
    if sampled:
        picks = [sampled[i] for i in sample_times(len(sampled), opts.strip_frames)]
        write_strip(run_dir / strip_rel, source, [p[1] for p in picks], [p[2] for p in picks], [p[0] for p in picks])
    return {"frames_compared": n, "metrics": metrics, "counts": counts, "details": details, "notes": notes,
            "strip": str(strip_rel) if sampled else None}


def _motion_regions(est: Estimators, job: ClipJob, source: np.ndarray, src: FaceReading | None,
                    drv0: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Head regions (in driving-frame pixels) where flicker measures change: around the source's
    face for the output, around the first driving face for the driving clip. Restricting both to
    the head keeps the ratio from depending on how much of each frame the face fills."""
    r_drv = est.memo_reading((str(job.driving), 0), drv0)
    if src is None or r_drv is None:
        return None, None
    shape = drv0.shape[:2]
    return (pm.head_mask(shape, _rescaled(src.keypoints, source.shape, shape)),
            pm.head_mask(shape, r_drv.keypoints))


def _face_metrics(job: ClipJob, source: np.ndarray, src: FaceReading | None, sampled, est: Estimators,
                  opts: EvalOptions, metrics: dict, counts: dict, details: dict, notes: list[str]) -> None:
    wanted = set(metrics)
    want_identity = "csim" in wanted and est.estimator("csim") is not None
    if src is None:
        notes.append("no face found in the source by the face estimators: csim and bg_rmse not measured")
    # (driving reading, output reading, driving frame, output frame) per sampled time with a face in the output
    found: list[tuple[FaceReading | None, FaceReading, np.ndarray, np.ndarray]] = []
    missed_out = missed_drv = 0
    for t, drv, out in sampled:
        r_out = est.reading(out, identity=want_identity and src is not None)
        r_drv = est.memo_reading((str(job.driving), t), drv)
        missed_out += r_out is None
        missed_drv += r_drv is None
        if r_out is not None:
            found.append((r_drv, r_out, drv, out))
    if missed_out:
        notes.append(f"no face found in {missed_out} of {len(sampled)} sampled output frames (left out of the face metrics)")
    if missed_drv:
        notes.append(f"no face found in {missed_drv} of {len(sampled)} sampled driving frames")

    if src is not None and src.identity is not None:
        embs = [o.identity for _, o, _, _ in found if o.identity is not None]
        if embs:
            metrics["csim"], counts["csim"] = fm.csim(src.identity, np.stack(embs)), len(embs)

    both = [(d, o, drv, out) for d, o, drv, out in found if d is not None]
    expr = [(d.expression, o.expression) for d, o, _, _ in both if d.expression is not None and o.expression is not None]
    if "aed" in wanted and expr:
        metrics["aed"], counts["aed"] = fm.aed(*map(np.stack, zip(*expr))), len(expr)
    poses = [(d.angles, o.angles) for d, o, _, _ in both if d.angles is not None and o.angles is not None]
    if "apd" in wanted and poses:
        a, b = map(np.stack, zip(*poses))
        metrics["apd"], counts["apd"] = fm.apd(a, b), len(poses)
        diff = np.abs((a - b + 180.0) % 360.0 - 180.0).mean(0)
        details["apd"] = {"yaw": float(diff[0]), "pitch": float(diff[1]), "roll": float(diff[2])}
    # the literature's AED / APD: SMIRK expression + jaw, DECA rotation (when the user has the weights)
    coded = [(d.smirk, o.smirk) for d, o, _, _ in both if d.smirk is not None and o.smirk is not None]
    if "aed_smirk" in wanted and coded:
        metrics["aed_smirk"], counts["aed_smirk"] = fm.aed(*map(np.stack, zip(*coded))), len(coded)
    coded = [(d.deca_angles, o.deca_angles) for d, o, _, _ in both if d.deca_angles is not None and o.deca_angles is not None]
    if "apd_deca" in wanted and coded:
        metrics["apd_deca"], counts["apd_deca"] = fm.apd(*map(np.stack, zip(*coded))), len(coded)
    if "akd" in wanted and both:
        kd = np.stack([d.keypoints for d, _, _, _ in both])
        ko = np.stack([_rescaled(o.keypoints, out.shape, drv.shape) for _, o, drv, out in both])
        metrics["akd"], counts["akd"] = fm.akd(kd, ko, float(max(both[0][2].shape[:2]))), len(both)

    if "bg_rmse" in wanted and src is not None and found:
        src_mask = pm.head_mask(source.shape[:2], src.keypoints, opts.head_scale)
        errs = []
        for _, o, _, out in found:
            out_mask = pm.head_mask(source.shape[:2], _rescaled(o.keypoints, out.shape, source.shape), opts.head_scale)
            err = pm.bg_rmse(_fit(out, source.shape[:2]), source, src_mask | out_mask)
            if err is not None:
                errs.append(err)
        if errs:
            metrics["bg_rmse"], counts["bg_rmse"] = float(np.mean(errs)), len(errs)


def _rescaled(points: np.ndarray, shape, target_shape) -> np.ndarray:
    """Landmarks found on a frame of `shape`, in the pixel grid of a frame of `target_shape`."""
    (h, w), (th, tw) = shape[:2], target_shape[:2]
    if (h, w) == (th, tw):
        return points
    return points * np.array([tw / w, th / h])
