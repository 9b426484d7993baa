"""Turn per-clip results into metrics.json, report.md and the per-clip chart."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np

from .. import __version__
from ..io.paths import atomic_path
from .clip_eval import PROTOCOL_METRICS
from .figures import plot_metrics
from .frechet import FeatureStats, stats_distance

METRIC_META = {
    # name: (better, unit, meaning)
    "l1": ("lower", "grey levels 0-255", "mean absolute difference between output and real frame"),
    "psnr": ("higher", "dB, capped at 100", "peak signal-to-noise ratio of output vs real frame"),
    "ssim": ("higher", "0-1", "structural similarity of output vs real frame (Gaussian window, RGB mean)"),
    "lpips": ("lower", "LPIPS distance", "learned perceptual distance of output vs real frame"),
    "fid": ("lower", "Fréchet distance", "realism: output frames vs real driving frames, all clips pooled"),
    "fvd": ("lower", "Fréchet distance", "realism of motion: 16-frame output clips vs driving clips, pooled"),
    "csim": ("higher", "cosine, -1..1", "identity kept: source face vs output faces"),
    "aed": ("lower", "mean |Δ| of 51 scores, 0-1", "expression followed: driving vs output expression"),
    "apd": ("lower", "degrees", "head pose followed: driving vs output yaw/pitch/roll"),
    "akd": ("lower", "px of a 256-px frame", "keypoints match: real vs output 68 landmarks"),
    "bg_rmse": ("lower", "grey levels 0-255", "background kept: output vs source outside the head region"),
    "aed_smirk": ("lower", "mean |Δ| of SMIRK's 50 expression + 3 jaw values",
                  "expression followed, as the literature measures it: driving vs output SMIRK codes"),
    "apd_deca": ("lower", "degrees", "head pose followed, as the literature measures it: DECA's rotation, "
                                     "driving vs output yaw/pitch/roll"),
    "flicker": ("lower", "ratio", "temporal instability: output frame-to-frame change / driving's (1 = as much)"),
}
POOLED = ("fid", "fvd")
NOT_APPLICABLE = "not applicable to cross-reenactment (no ground truth frames)"


def write_json(path: Path, data) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=False, allow_nan=False) + "\n")
    return path


def _clean(v):
    return None if v is None or (isinstance(v, float) and not math.isfinite(v)) else v


def aggregate(protocol: str, clips: list[dict], run_dir: Path) -> dict:
    """Per metric over the clips that produced a value: mean, std, median, clip count. FID and FVD
    come from the pooled feature statistics of all clips."""
    out: dict[str, dict] = {}
    ok = [c for c in clips if not c.get("error")]
    for m in PROTOCOL_METRICS[protocol]:
        if m in POOLED:
            out[m] = _pooled(m, ok, run_dir)
            continue
        vals = np.array([c["metrics"][m] for c in ok if c["metrics"].get(m) is not None], np.float64)
        out[m] = ({"mean": float(vals.mean()), "std": float(vals.std()), "median": float(np.median(vals)),
                   "clips": int(len(vals))} if len(vals) else {"mean": None, "clips": 0})
    return out


def _pooled(metric: str, clips: list[dict], run_dir: Path) -> dict:
    gen = real = None
    for c in clips:
        a, b = run_dir / "features" / f"{c['id']}.{metric}_out.npz", run_dir / "features" / f"{c['id']}.{metric}_real.npz"
        if a.is_file() and b.is_file():
            sa, sb = FeatureStats.load(a), FeatureStats.load(b)
            gen, real = (sa, sb) if gen is None else (gen.merged(sa), real.merged(sb))
    if gen is None:
        return {"value": None, "samples": 0}
    if gen.count < 2 or real.count < 2:
        return {"value": None, "samples": gen.count, "note": "needs at least 2 samples on each side"}
    res = {"value": stats_distance(gen, real), "samples": gen.count}
    if gen.count < gen.total.shape[0]:
        res["note"] = (f"{gen.count} samples for {gen.total.shape[0]}-d features: biased upwards, "
                       "compare only runs of the same size")
    return res


def speed(clips: list[dict]) -> dict:
    ok = [c for c in clips if not c.get("error")]
    frames = sum(int(c.get("frames") or 0) for c in ok)
    stages: dict[str, float] = {}
    for c in ok:
        for k, v in (c.get("timings") or {}).items():
            stages[k] = stages.get(k, 0.0) + float(v)
    wall = sum(float(c.get("run_seconds") or 0.0) for c in ok)
    return {"frames": frames, "run_seconds": wall, "frames_per_second": frames / wall if wall > 0 else None,
            "stage_seconds": stages,
            "stage_ms_per_frame": {k: 1000.0 * v / frames for k, v in stages.items()} if frames else {}}


def metric_table(protocol: str, info: dict[str, dict]) -> dict[str, dict]:
    """metrics.json's description of every metric: estimator and version, or why it was not measured."""
    table = {}
    for m, (better, unit, meaning) in METRIC_META.items():
        entry = {"better": better, "unit": unit, "meaning": meaning}
        if m not in PROTOCOL_METRICS[protocol]:
            entry.update(measured=False, reason=NOT_APPLICABLE)
        else:
            entry.update(info.get(m, {"measured": False, "reason": "not measured"}))
        table[m] = entry
    return table


def build_metrics(plan: dict, clips: list[dict], run_dir: Path) -> dict:
    protocol = plan["protocol"]
    agg = aggregate(protocol, clips, run_dir)
    table = metric_table(protocol, plan["estimators"])
    for m, a in agg.items():
        if table[m].get("measured") and a.get("mean", a.get("value")) is None:
            table[m]["measured"] = False
            table[m]["reason"] = a.get("note") or "no clip produced a value (no face found, or no frames)"
    return {
        "schema": 1,
        "reenact_version": __version__,
        "protocol": protocol,
        "engine": plan["engine"],
        "videos": plan["videos"],
        "sources": plan.get("sources"),
        "max_frames": plan.get("max_frames"),
        "options": plan["options"],
        "metrics": table,
        "aggregate": agg,
        "speed": speed(clips),
        "clips": clips,
        "failed": [{"id": c["id"], "error": c["error"]} for c in clips if c.get("error")],
    }


def _fmt(v, digits: int = 4) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:.{digits}g}" if abs(v) < 1e4 else f"{v:.0f}"
    return str(v)


def write_report(run_dir: Path, metrics: dict, plot_backend: str = "auto") -> Path:
    """report.md, metrics.png; metrics.json is written by the caller."""
    protocol = metrics["protocol"]
    table, agg = metrics["metrics"], metrics["aggregate"]
    clips = metrics["clips"]
    ok = [c for c in clips if not c.get("error")]
    measured = [m for m in PROTOCOL_METRICS[protocol] if table[m].get("measured")]
    per_clip = [m for m in measured if m not in POOLED]

    titles = {m: f"{m} ({'↓' if table[m]['better'] == 'lower' else '↑'} better)" for m in per_clip}
    plot_metrics(run_dir / "metrics.png", [c["id"] for c in ok],
                 {m: [c["metrics"].get(m) for c in ok] for m in per_clip}, titles, backend=plot_backend)

    title = {"self": "self-reenactment (each clip drives its own frame; the clip is the ground truth)",
             "cross": "cross-reenactment (every source × every driving clip)"}[protocol]
    ran = sorted({str(c.get("engine")) for c in ok if c.get("engine")})
    engine = f"`{metrics['engine']}`" + (f" (ran: {', '.join(ran)})" if ran and ran != [metrics["engine"]] else "")
    lines = [f"# reenact evaluation: {title}", "",
             f"- engine: {engine}; reenact {metrics['reenact_version']}; written {time.strftime('%Y-%m-%d %H:%M')}",
             f"- driving videos: `{metrics['videos']}`" + (f"; sources: `{metrics['sources']}`" if metrics.get("sources") else ""),
             f"- clips: {len(ok)} evaluated, {len(clips) - len(ok)} failed; frames per clip: "
             f"{metrics['max_frames'] or 'all'}; face metrics on up to {metrics['options']['face_frames']} "
             "evenly spaced frames per clip", "",
             "## Summary", "",
             "| metric | value | better | over | estimator |", "| --- | --- | --- | --- | --- |"]
    for m in PROTOCOL_METRICS[protocol]:
        t, a = table[m], agg[m]
        if not t.get("measured"):
            continue
        if m in POOLED:
            value, over = _fmt(a.get("value")), f"{a.get('samples', 0)} samples"
        else:
            value = f"{_fmt(a['mean'])} ± {_fmt(a['std'], 2)}" if a.get("mean") is not None else "—"
            over = f"{a.get('clips', 0)} clips"
        lines.append(f"| {m} | {value} | {t['better']} | {over} | {t['estimator']} |")
    missing = [(m, table[m]["reason"]) for m in PROTOCOL_METRICS[protocol] if not table[m].get("measured")]
    if missing:
        lines += ["", "Not measured:", ""] + [f"- `{m}`: {r}" for m, r in missing]
    notes = [f"- `{m}`: {agg[m]['note']}" for m in POOLED if m in agg and agg[m].get("note")]
    if notes:
        lines += [""] + notes
    lines += ["", "Units: " + "; ".join(f"{m} {table[m]['unit']}" for m in measured) + ".", ""]

    if ok:
        lines += ["## Per clip", "", "| clip | frames | " + " | ".join(per_clip) + " |",
                  "| --- | --- | " + " | ".join("---" for _ in per_clip) + " |"]
        for c in ok:
            lines.append(f"| {c['id']} | {c['frames_compared']} | "
                         + " | ".join(_fmt(c["metrics"].get(m)) for m in per_clip) + " |")
        lines += ["", "![per-clip metrics](metrics.png)", ""]

    sp = metrics["speed"]
    if sp["frames"]:
        lines += ["## Speed", "",
                  f"{sp['frames']} frames generated in {sp['run_seconds']:.1f} s "
                  f"({_fmt(sp['frames_per_second'], 3)} frames/s: wall time of the generator calls, "
                  "model loading included).", ""]
        if sp["stage_seconds"]:
            lines += ["| stage | seconds | ms per frame |", "| --- | --- | --- |"]
            lines += [f"| {k} | {v:.2f} | {sp['stage_ms_per_frame'][k]:.1f} |" for k, v in sp["stage_seconds"].items()]
            lines.append("")

    if metrics["failed"]:
        lines += ["## Failed clips", ""] + [f"- {f['id']}: {f['error']}" for f in metrics["failed"]] + [""]
    noted = [c for c in ok if c.get("notes")]
    if noted:
        lines += ["## Notes", ""]
        for c in noted:
            lines += [f"- {c['id']}: {n}" for n in c["notes"]]
        lines.append("")
    strips = [c for c in ok if c.get("strip")]
    if strips:
        lines += ["## Frames (source | driving / output)", ""]
        for c in strips:
            lines += [f"### {c['id']}", "", f"![{c['id']}]({c['strip']})", ""]
    path = run_dir / "report.md"
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines))
    return path
