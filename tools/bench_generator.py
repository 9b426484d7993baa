#!/usr/bin/env python
"""Benchmark the MagicPortrait diffusion generator (random weights: speed does not depend on them).

Default (`make bench-gpu`): full-size models made on the fly (SD1.5 widths, official guidance
encoders, an sd-vae-ft-mse-sized VAE), 512x512, CFG 3.5, the official clip lengths (24 and 100
frames), and every mode in the same run:

    official       fp32, DDIM 20, wrapping windows, one window per call, per-frame decode (`--official`)
    fp32-tf32      fp32 with TF32 and the fast paths (batched windows, features on the GPU)
    fp16, bf16     the default fast path in half precision (fp16 keeps the VAE in fp32)
    fp16-compile   + channels_last + torch.compile of the denoising UNet
    fp16-dpm12     + DPM-Solver++ at 12 steps instead of DDIM 20
    fp16-offload   + accelerate model CPU offload (peak VRAM for 8-12 GB cards)

Per mode: seconds per output frame, the ratio to `official`, peak VRAM, peak host RSS (of the
process so far), and the output frames' max/mean absolute difference from the `official` fp32
frames made from the same random weights and the same noise.

    python tools/bench_generator.py                                 # GPU: all modes, 24 and 100 frames
    python tools/bench_generator.py --frames 24 --modes official,fp16,fp16-dpm12
    python tools/bench_generator.py --tiny                          # tiny models on CPU: keeps the script working
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tools.benchlib import cpu_name  # noqa: E402

from diffusers import AutoencoderKL  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from reenact.generate.diffusion import (ContextSettings, GenerationSettings, MagicPortraitModel,  # noqa: E402
                                        MagicPortraitPipeline, ModelConfig, uniform_windows)
from reenact.generate.diffusion.pipeline import vae_dtype_for  # noqa: E402

MODES: dict[str, dict] = {
    "official": dict(official=True),
    "fp32-tf32": dict(dtype="fp32"),
    "fp16": dict(dtype="fp16"),
    "bf16": dict(dtype="bf16"),
    "fp16-compile": dict(dtype="fp16", channels_last=True, compile=True),
    "fp16-dpm12": dict(dtype="fp16", scheduler="dpm++", num_inference_steps=12),
    "fp16-offload": dict(dtype="fp16", cpu_offload=True),
}

SD_VAE = dict(block_out_channels=[128, 256, 512, 512], layers_per_block=2, latent_channels=4, sample_size=512,
              down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4,
              scaling_factor=0.18215)
TINY_VAE = dict(block_out_channels=[8, 16, 16, 16], layers_per_block=1, latent_channels=4, norm_num_groups=8,
                down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4,
                scaling_factor=0.18215)

# dense peak TFLOP/s by device-name fragment (fp32 = CUDA cores; PyTorch leaves TF32 matmul off by default)
PEAK_TFLOPS = {"H200": {"fp32": 67, "bf16": 989, "fp16": 989}, "H100": {"fp32": 67, "bf16": 989, "fp16": 989},
               "A100": {"fp32": 19.5, "bf16": 312, "fp16": 312}, "L40S": {"fp32": 91.6, "bf16": 362, "fp16": 362},
               "4090": {"fp32": 82.6, "bf16": 165, "fp16": 165}}


@dataclass
class Result:
    device: str
    mode: str
    dtype: str
    size: int
    frames: int
    steps: int
    guidance_scale: float
    seconds: float
    seconds_per_frame: float
    speedup_vs_official: float | None
    peak_memory_gib: float | None        # peak VRAM of this mode
    peak_host_rss_gib: float             # peak RSS of the process up to the end of this mode
    max_abs_diff: float | None           # output frames vs the official fp32 frames, in [0, 1] units
    mean_abs_diff: float | None
    tflop_total: float
    flop_limit_seconds_per_frame: float | None


def build_pipeline(tiny: bool, device: torch.device, dtype: torch.dtype) -> MagicPortraitPipeline:
    config = ModelConfig.tiny() if tiny else ModelConfig.full_size()
    torch.manual_seed(0)
    with torch.device(device):                       # random init straight on the device
        model = MagicPortraitModel(config)
        vae = AutoencoderKL(**(TINY_VAE if tiny else SD_VAE))
    model.to(dtype=dtype).eval()
    # nn.Module.to: diffusers' own .to() warns about casting a model it did not load itself
    torch.nn.Module.to(vae, dtype=vae_dtype_for(dtype, vae.config)).eval()
    text_dim = config.unet["cross_attention_dim"]
    return MagicPortraitPipeline(model, vae, prompt_embeds=torch.randn(1, 77, text_dim))


def count_flops(tiny: bool, size: int, frames: int, steps: int, guidance_scale: float,
                context: ContextSettings) -> float:
    """Total FLOPs of one clip, counted on the meta device (no memory, no compute)."""
    config = ModelConfig.tiny() if tiny else ModelConfig.full_size()
    h = size // 8
    copies = 2 if guidance_scale > 1 else 1
    window = min(frames, context.frames)
    calls = steps * len(uniform_windows(frames, context))
    with torch.device("meta"):
        model = MagicPortraitModel(config)
        vae = AutoencoderKL(**(TINY_VAE if tiny else SD_VAE))
        text = torch.empty(copies, 77, config.unet["cross_attention_dim"])
        ref = torch.empty(1, 4, h, h)
        latents = torch.empty(copies, 4, window, h, h)
        features = torch.empty(copies, config.guidance.embedding_channels, window, h, h)
        maps = torch.empty(1, 3, 1, size, size)
        image = torch.empty(1, 3, size, size)
    counts = {}
    with torch.no_grad():
        for name, fn in {
            "vae_encode": lambda: vae.encode(image),
            "reference_unet": lambda: model.reference_features(ref, text[:1]),
            "unet_call": lambda: model.denoise(latents, torch.tensor(999), text, features,
                                               model.reference_features(ref, text[:1]), uncond_batches=copies - 1),
            "guidance_frame": lambda: [enc(maps) for enc in model.guidance_encoders.values()],
            "vae_decode_frame": lambda: vae.decode(ref),
        }.items():
            counter = FlopCounterMode(display=False)
            with counter:
                fn()
            counts[name] = counter.get_total_flops()
    counts["unet_call"] -= counts["reference_unet"]
    return (counts["vae_encode"] + counts["reference_unet"] + calls * counts["unet_call"]
            + frames * (counts["guidance_frame"] + counts["vae_decode_frame"]))




def peak_tflops(device: torch.device, dtype: str, override: float | None) -> float | None:
    if override:
        return override
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    for fragment, table in PEAK_TFLOPS.items():
        if fragment in name:
            return table[dtype]
    return None


def run(tiny: bool = False, device: str | None = None, modes: tuple[str, ...] = ("official",),
        size: int | None = None, frames: int = 24, steps: int = 20, guidance_scale: float = 3.5,
        peak: float | None = None, warmup: bool = True,
        on_result: Callable[[Result], None] | None = None) -> list[Result]:
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    size = size or (128 if tiny else 512)
    rng = np.random.default_rng(0)
    reference = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    guidance = {t: rng.integers(0, 256, (frames, size, size, 3), dtype=np.uint8) for t in ("depth", "normal", "render")}
    results: list[Result] = []
    official_frames: torch.Tensor | None = None
    official_seconds: float | None = None
    for mode in modes:
        try:
            result = _run_mode(mode, tiny, dev, size, frames, steps, guidance_scale, peak, warmup, reference,
                               guidance, official_frames, official_seconds)
        except Exception:                   # one broken mode must not lose the others' figures
            traceback.print_exc()
            print(f"mode {mode} failed (traceback above)", file=sys.stderr, flush=True)
            if dev.type == "cuda":
                torch.cuda.empty_cache()
            continue
        result, video = result
        if mode == "official":
            official_frames, official_seconds = video.frames, result.seconds
            result.speedup_vs_official, result.max_abs_diff, result.mean_abs_diff = 1.0, 0.0, 0.0
        results.append(result)
        if on_result:
            on_result(result)
        del video
        if dev.type == "cuda":
            torch.cuda.empty_cache()
    return results


def _run_mode(mode: str, tiny: bool, dev: torch.device, size: int, frames: int, steps: int, guidance_scale: float,
              peak: float | None, warmup: bool, reference: np.ndarray, guidance: dict[str, np.ndarray],
              official_frames: torch.Tensor | None, official_seconds: float | None) -> tuple[Result, object]:
    """One mode, timed after an untimed warm-up; returns its row and the generated video."""
    options = {"num_inference_steps": steps, **MODES[mode]}
    settings = GenerationSettings(width=size, height=size, guidance_scale=guidance_scale, **options)
    dtype = settings.torch_dtype(dev)
    pipe = build_pipeline(tiny, dev, dtype)          # the same seed: the same random weights every mode
    if warmup:   # kernel selection, lazy initialisation and compilation (same shapes) stay out of the timing
        warm = GenerationSettings(**{**settings.__dict__, "num_inference_steps": 1})
        pipe(reference, guidance, warm, progress=False)
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
        torch.cuda.reset_peak_memory_stats(dev)
    start = time.perf_counter()
    video = pipe(reference, guidance, settings, progress=False)
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    seconds = time.perf_counter() - start
    mem = torch.cuda.max_memory_allocated(dev) / 2**30 if dev.type == "cuda" else None
    diff = (video.frames - official_frames).abs() if official_frames is not None else None
    flops = count_flops(tiny, size, frames, settings.num_inference_steps, guidance_scale, settings.context)
    name = {torch.float32: "fp32", torch.float16: "fp16", torch.bfloat16: "bf16"}[dtype]
    limit = peak_tflops(dev, name, peak)
    result = Result(
        device=torch.cuda.get_device_name(dev) if dev.type == "cuda" else
        f"{cpu_name()}, {torch.get_num_threads()} threads",
        mode=mode, dtype=name, size=size, frames=frames, steps=settings.num_inference_steps,
        guidance_scale=guidance_scale, seconds=seconds, seconds_per_frame=seconds / frames,
        speedup_vs_official=official_seconds / seconds if official_seconds else None,
        peak_memory_gib=mem, peak_host_rss_gib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
        max_abs_diff=float(diff.max()) if diff is not None else None,
        mean_abs_diff=float(diff.mean()) if diff is not None else None,
        tflop_total=flops / 1e12,
        flop_limit_seconds_per_frame=(flops / frames / (limit * 1e12)) if limit else None)
    del pipe
    return result, video


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tiny", action="store_true", help="tiny models (fixture widths), 128x128 by default")
    ap.add_argument("--device", default=None, help="cuda or cpu (default: cuda when available)")
    ap.add_argument("--modes", default=None,
                    help=f"comma list of {','.join(MODES)} (default: all on a GPU, `official` otherwise)")
    ap.add_argument("--dtypes", default=None, help=argparse.SUPPRESS)   # old spelling: fp32 -> official
    ap.add_argument("--size", type=int, default=None)
    ap.add_argument("--frames", default="24,100", help="comma list of clip lengths (default: the official 24,100)")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--cfg", type=float, default=3.5)
    ap.add_argument("--peak-tflops", type=float, default=None, help="device peak for the FLOP-limit estimate")
    ap.add_argument("--no-warmup", action="store_true", help="skip the untimed warm-up run")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = ap.parse_args(argv)
    gpu = (args.device or ("cuda" if torch.cuda.is_available() else "cpu")).startswith("cuda")
    if args.modes:
        modes = tuple(args.modes.split(","))
    elif args.dtypes:
        modes = tuple("official" if d == "fp32" else d for d in args.dtypes.split(","))
    else:
        modes = tuple(MODES) if gpu and not args.tiny else ("official",)
    unknown = [m for m in modes if m not in MODES]
    if unknown:
        ap.error(f"unknown mode(s) {unknown}; choose from {', '.join(MODES)}")
    if "official" not in modes[:1] and len(modes) > 1:
        modes = ("official", *[m for m in modes if m != "official"])      # the reference runs first
    results: list[Result] = []

    def report(r: Result) -> None:           # each row as soon as its mode is done
        mem = f"{r.peak_memory_gib:.1f} GiB" if r.peak_memory_gib is not None else "-"
        lim = f"{r.flop_limit_seconds_per_frame:.3g}" if r.flop_limit_seconds_per_frame is not None else "-"
        ratio = f"{r.speedup_vs_official:.1f}" if r.speedup_vs_official is not None else "-"
        diff = f"{r.max_abs_diff:.3g} / {r.mean_abs_diff:.3g}" if r.max_abs_diff is not None else "-"
        print(f"| {r.device} | {r.mode} | {r.dtype} | {r.size} | {r.frames} | {r.steps} | {r.seconds_per_frame:.3g} | "
              f"{ratio} | {mem} | {r.peak_host_rss_gib:.1f} GiB | {diff} | {lim} |", flush=True)
        results.append(r)
        if args.json:
            args.json.write_text(json.dumps([x.__dict__ for x in results], indent=1))

    print("| device | mode | dtype | size | frames | steps | s/frame | x official | peak VRAM | peak host RSS |"
          " max/mean abs diff vs official | FLOP-limit s/frame |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|", flush=True)
    for frames in (int(f) for f in str(args.frames).split(",")):
        run(args.tiny, args.device, modes, args.size, frames, args.steps, args.cfg, args.peak_tflops,
            warmup=not args.no_warmup, on_result=report)
    return 0 if len(results) == len(modes) * len(str(args.frames).split(",")) else 1


if __name__ == "__main__":
    raise SystemExit(main())
