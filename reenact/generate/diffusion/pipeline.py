"""Long-video generation: reference image + per-frame guidance maps -> frames.

Numerically the official `MultiGuidance2LongVideoPipeline` at its defaults (context windows of 12
frames, overlap 1, closed loop, reference features once at t=0, reference-image CFG, DDIM with
zero-SNR v-prediction), reorganised so memory does not grow with the clip: guidance features are
computed a window at a time and parked on the CPU, and the VAE decodes a few frames at a time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from diffusers import AutoencoderKL, DDIMScheduler
from diffusers.utils.torch_utils import randn_tensor
from tqdm.auto import tqdm

from ...errors import AssetError, InputError
from .config import SCHEDULER_CONFIG, VAE_LATENT_SCALE
from .context import ContextSettings, uniform_windows
from .inputs import FrameSource, check_size, guidance_sources, reference_tensor
from .model import MagicPortraitModel
from .prompt import prompt_embedding
from .reference import ReferenceFeatures
from .weights import WeightPaths, load_checkpoints, load_model

DTYPES = {"fp32": torch.float32, "float32": torch.float32, "fp16": torch.float16, "float16": torch.float16,
          "bf16": torch.bfloat16, "bfloat16": torch.bfloat16}


def parse_dtype(dtype: str | torch.dtype) -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        return dtype
    try:
        return DTYPES[dtype.lower()]
    except KeyError:
        raise InputError(f"unknown dtype {dtype!r}: use fp32, fp16 or bf16") from None


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def make_scheduler() -> DDIMScheduler:
    return DDIMScheduler(**SCHEDULER_CONFIG)


@dataclass
class GenerationSettings:
    """Official defaults. `fp16_reference` keeps quirk Q6 (reference tokens rounded to fp16);
    `noise_device` "cpu" makes a seed give the same video on any machine (the official script drew
    its noise with a CUDA generator: use "cuda" to match its videos on a GPU)."""

    width: int = 512
    height: int = 512
    num_inference_steps: int = 20
    guidance_scale: float = 3.5
    seed: int = 42
    context: ContextSettings = field(default_factory=ContextSettings)
    decode_chunk: int = 8
    fp16_reference: bool = True
    noise_device: str = "cpu"

    @classmethod
    def from_config(cls, cfg: Any) -> "GenerationSettings":
        """From the `generate.diffusion` section of the reenact config (any mapping with these keys)."""
        data = dict(cfg)
        ctx = ContextSettings(**{k: data.pop(k2) for k, k2 in (("frames", "context_frames"),
                                                                ("overlap", "context_overlap"),
                                                                ("stride", "context_stride"))
                                 if k2 in data})
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__ and k != "context"}
        return cls(context=ctx, **known)


@dataclass
class GeneratedVideo:
    frames: torch.Tensor          # (F, 3, H, W) float32 in [0, 1], on the CPU
    latents: torch.Tensor         # (1, 4, F, H/8, W/8) final latents, before decoding

    def to_uint8(self) -> np.ndarray:
        """(F, H, W, 3) uint8, rounded as torchvision's save_image does."""
        return (self.frames.permute(0, 2, 3, 1) * 255 + 0.5).clamp(0, 255).to(torch.uint8).numpy()


StepCallback = Callable[[int, int, torch.Tensor], None]   # (step index, timestep, latents after the step)


class _GuidanceFeatures:
    """Summed guidance features per frame, computed one window at a time and kept on the CPU, so the
    accelerator only ever holds one window's maps and features."""

    def __init__(self, model: MagicPortraitModel, sources: dict[str, FrameSource], width: int, height: int) -> None:
        self.model, self.sources, self.width, self.height = model, sources, width, height
        self.cache: dict[int, torch.Tensor] = {}

    def window(self, frames: list[int]) -> torch.Tensor:
        todo = [i for i in frames if i not in self.cache]
        if todo:
            maps = {t: s.read(todo, self.width, self.height).to(self.model.device) for t, s in self.sources.items()}
            feats = self.model.encode_guidance(maps)[0]                # (C0, n, h, w)
            for j, i in enumerate(todo):
                self.cache[i] = feats[:, j].to("cpu", copy=True)
        return torch.stack([self.cache[i] for i in frames], dim=1)[None].to(self.model.device)


class MagicPortraitPipeline:
    """model + VAE + scheduler; call it with a reference image and guidance maps."""

    def __init__(self, model: MagicPortraitModel, vae: AutoencoderKL, scheduler: DDIMScheduler | None = None,
                 prompt_embeds: torch.Tensor | None = None, sd15_dir: str | Path | None = None,
                 cache_dir: str | Path | None = None) -> None:
        self.model, self.vae = model, vae
        self.scheduler = scheduler or make_scheduler()
        self._prompt_embeds = prompt_embeds
        self.sd15_dir, self.cache_dir = sd15_dir, cache_dir

    def to(self, device: torch.device | str, dtype: torch.dtype | str | None = None) -> "MagicPortraitPipeline":
        dtype = parse_dtype(dtype) if dtype is not None else self.model.dtype
        self.model.to(device=device, dtype=dtype)
        vae_dtype = vae_dtype_for(dtype, self.vae.config)
        if self.vae.dtype != vae_dtype:
            self.vae.to(dtype=vae_dtype)
        self.vae.to(device=device)
        return self

    @property
    def device(self) -> torch.device:
        return self.model.device

    @property
    def prompt_embeds(self) -> torch.Tensor:
        if self._prompt_embeds is None:
            if self.sd15_dir is None:
                raise AssetError("no prompt embedding: give prompt_embeds or the stable-diffusion-v1-5 folder")
            self._prompt_embeds = prompt_embedding(self.sd15_dir, self.cache_dir)
        return self._prompt_embeds

    @torch.no_grad()
    def __call__(self, reference_image: Any, guidance: Any, settings: GenerationSettings = GenerationSettings(),
                 *, num_frames: int | None = None, prompt_embeds: torch.Tensor | None = None,
                 latents: torch.Tensor | None = None, progress: bool = True,
                 callback: StepCallback | None = None) -> GeneratedVideo:
        """reference_image: path, PIL image or (H, W, 3) array (the 512x512 crop for the release).
        guidance: folder with depth/ normal/ render/ subfolders, or see `inputs.guidance_sources`.
        latents: optional initial noise (1, 4, F, H/8, W/8), replacing the seeded draw."""
        s = settings
        # 1. check inputs
        check_size(s.width, s.height)
        if s.context.frames > self.model.config.motion.max_frames:
            raise InputError(f"context window of {s.context.frames} frames exceeds the motion module's "
                             f"{self.model.config.motion.max_frames}")
        sources = guidance_sources(guidance, self.model.config.guidance_types)
        total = len(next(iter(sources.values())))
        f = total if num_frames is None else num_frames
        if not 0 < f <= total:
            raise InputError(f"asked for {num_frames} frames but the guidance maps have {total}")
        device, dtype = self.device, self.model.dtype
        h, w = s.height // 8, s.width // 8
        do_cfg = s.guidance_scale > 1.0

        # 2. prompt embedding (the same for both CFG halves: CFG here is reference guidance, Q2)
        text = (prompt_embeds if prompt_embeds is not None else self.prompt_embeds).to(device, dtype)
        text_batch = torch.cat([text, text]) if do_cfg else text

        # 3. reference latents and reference features, once for the whole clip (t = 0, Q5)
        reference = self.encode_reference(reference_image, s.width, s.height)
        features = self.model.reference_features(reference, text, fp16_roundtrip=s.fp16_reference)

        # 4. initial noise
        if latents is None:
            latents = self.initial_noise(f, s)
        elif tuple(latents.shape) != (1, 4, f, h, w):
            raise InputError(f"initial latents must have shape {(1, 4, f, h, w)}, got {tuple(latents.shape)}")
        self.scheduler.set_timesteps(s.num_inference_steps, device=device)
        latents = latents.to(device, torch.float32) * self.scheduler.init_noise_sigma

        # 5. denoising loop over context windows
        windows = uniform_windows(f, s.context)
        guidance_features = _GuidanceFeatures(self.model, sources, s.width, s.height)
        bar = tqdm(total=len(self.scheduler.timesteps) * len(windows), desc="diffusion", unit="window",
                   disable=not progress)
        try:
            for step, t in enumerate(self.scheduler.timesteps):
                latents = self._step(latents, t, windows, guidance_features, text_batch, features,
                                     do_cfg, s.guidance_scale, bar)
                if callback is not None:
                    callback(step, int(t), latents)
        finally:
            bar.close()

        # 6. decode a few frames at a time
        return GeneratedVideo(self.decode(latents, s.decode_chunk), latents.cpu())

    @staticmethod
    def initial_noise(num_frames: int, settings: GenerationSettings) -> torch.Tensor:
        """(1, 4, F, H/8, W/8) float32 standard normal noise from the seed, drawn on `noise_device`."""
        generator = torch.Generator(settings.noise_device).manual_seed(settings.seed)
        shape = (1, 4, num_frames, settings.height // 8, settings.width // 8)
        return randn_tensor(shape, generator=generator, device=torch.device(settings.noise_device),
                            dtype=torch.float32)

    def encode_reference(self, image: Any, width: int, height: int) -> torch.Tensor:
        """(1, 4, H/8, W/8): the VAE posterior mean times 0.18215 (not a sample; Q13)."""
        pixels = reference_tensor(image, width, height).to(self.vae.device, self.vae.dtype)
        return (self.vae.encode(pixels).latent_dist.mean * VAE_LATENT_SCALE).to(self.model.dtype)

    def _step(self, latents: torch.Tensor, t: torch.Tensor, windows: list[list[int]],
              guidance_features: _GuidanceFeatures, text: torch.Tensor, reference: ReferenceFeatures,
              do_cfg: bool, scale: float, bar: tqdm) -> torch.Tensor:
        copies = 2 if do_cfg else 1
        pred_sum = torch.zeros((copies, *latents.shape[1:]), device=latents.device, dtype=torch.float32)
        counts = torch.zeros((1, 1, latents.shape[2], 1, 1), device=latents.device, dtype=torch.float32)
        for window in windows:
            x = latents[:, :, window].repeat(copies, 1, 1, 1, 1)
            g = guidance_features.window(window).repeat(copies, 1, 1, 1, 1)
            out = self.model.denoise(x, t, text, g, reference, uncond_batches=1 if do_cfg else 0)
            pred_sum[:, :, window] += out.float()
            counts[:, :, window] += 1
            bar.update()
        pred = pred_sum / counts
        if do_cfg:
            uncond, cond = pred.chunk(2)
            pred = uncond + scale * (cond - uncond)
        return self.scheduler.step(pred, t, latents, eta=0.0).prev_sample

    def decode(self, latents: torch.Tensor, chunk: int = 8) -> torch.Tensor:
        """(1, 4, F, h, w) latents -> (F, 3, H, W) in [0, 1] on the CPU."""
        z = latents[0].transpose(0, 1) / VAE_LATENT_SCALE                # (F, 4, h, w)
        frames = []
        for i in range(0, z.shape[0], max(1, chunk)):
            x = self.vae.decode(z[i:i + chunk].to(self.vae.device, self.vae.dtype)).sample
            frames.append((x / 2 + 0.5).clamp(0, 1).float().cpu())
        return torch.cat(frames)


def vae_dtype_for(dtype: torch.dtype, vae_config: Any) -> torch.dtype:
    """The SD VAE overflows in fp16 (its config says force_upcast): it then stays in float32."""
    return torch.float32 if dtype == torch.float16 and vae_config.get("force_upcast", True) else dtype


def load_vae(vae_dir: str | Path, dtype: torch.dtype = torch.float32) -> AutoencoderKL:
    vae_dir = Path(vae_dir)
    if not (vae_dir / "config.json").is_file():
        raise AssetError(f"missing VAE folder {vae_dir}: download https://huggingface.co/stabilityai/sd-vae-ft-mse "
                         "(config.json + diffusion_pytorch_model.safetensors) there")
    try:
        target = vae_dtype_for(dtype, AutoencoderKL.load_config(vae_dir))
        return AutoencoderKL.from_pretrained(vae_dir, torch_dtype=target).eval()
    except (OSError, ValueError, RuntimeError) as exc:
        raise AssetError(f"cannot load the VAE from {vae_dir} ({str(exc).splitlines()[0]}); re-download it") from None


def load_pipeline(weights_dir: str | Path | None = None, *, paths: WeightPaths | None = None,
                  device: torch.device | str | None = None, dtype: str | torch.dtype = "fp32",
                  cache_dir: str | Path | None = None, prompt_embeds: torch.Tensor | None = None,
                  motion_precedence: str = "denoising_unet") -> MagicPortraitPipeline:
    """Everything from a weights folder (see `weights.py` for the layout) or explicit paths."""
    if paths is None:
        if weights_dir is None:
            raise ValueError("give weights_dir or paths")
        paths = WeightPaths.from_weights_dir(weights_dir)
    device = torch.device(device) if device is not None else default_device()
    torch_dtype = parse_dtype(dtype)
    vae = load_vae(paths.vae, torch_dtype)          # small: a missing VAE fails before the big files load
    checkpoints = load_checkpoints(paths.checkpoints, paths.sd15, motion_precedence=motion_precedence)
    model = load_model(checkpoints, device=device, dtype=torch_dtype)
    pipe = MagicPortraitPipeline(model, vae, make_scheduler(), prompt_embeds=prompt_embeds,
                                 sd15_dir=paths.sd15, cache_dir=cache_dir)
    return pipe.to(device, torch_dtype)


def generate_video(reference_image: Any, guidance: Any, weights_dir: str | Path,
                   settings: GenerationSettings = GenerationSettings(), *, device: str | None = None,
                   dtype: str = "fp32", cache_dir: str | Path | None = None, num_frames: int | None = None,
                   progress: bool = True) -> GeneratedVideo:
    """One call for the CLI's `--engine diffusion`: load everything, generate, return frames."""
    pipe = load_pipeline(weights_dir, device=device, dtype=dtype, cache_dir=cache_dir)
    return pipe(reference_image, guidance, settings, num_frames=num_frames, progress=progress)
