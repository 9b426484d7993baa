"""Long-video generation: reference image + per-frame guidance maps -> frames.

Numerically the official `MultiGuidance2LongVideoPipeline` when `GenerationSettings(official=True)`
(fp32, context windows of 12 frames with overlap 1 wrapping around the clip, reference features once
at t=0, reference-image CFG, DDIM 20 with zero-SNR v-prediction, per-frame decode). The defaults keep
those numerics where they decide quality and change what only costs time or memory: fp16 on a GPU
with the VAE in fp32, windows that do not wrap, several windows per UNet call, guidance features
computed once and kept on the device, frames decoded and handed out a chunk at a time. Host memory
stays flat with clip length: only the latents (64 KB per frame at 512^2) live for the whole clip.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np
import torch
from diffusers import AutoencoderKL, DDIMScheduler, DPMSolverMultistepScheduler, UniPCMultistepScheduler
from diffusers.utils.torch_utils import randn_tensor
from tqdm.auto import tqdm

from ...errors import AssetError, InputError
from .config import SCHEDULER_CONFIG, VAE_LATENT_SCALE
from .context import ContextSettings, uniform_windows
from .inputs import FrameSource, check_size, guidance_sources, is_guidance_stream, reference_tensor, stream_frames
from .model import MagicPortraitModel
from .prompt import prompt_embedding
from .reference import ReferenceFeatures
from .vae import load_vae, vae_dtype_for
from .weights import WeightPaths, inspect_weights, load_checkpoints, load_model


DTYPES = {"fp32": torch.float32, "float32": torch.float32, "fp16": torch.float16, "float16": torch.float16,
          "bf16": torch.bfloat16, "bfloat16": torch.bfloat16}
SCHEDULERS = ("ddim", "dpm++", "unipc")


def parse_dtype(dtype: str | torch.dtype) -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        return dtype
    try:
        return DTYPES[dtype.lower()]
    except KeyError:
        raise InputError(f"unknown dtype {dtype!r}: use fp32, fp16, bf16 or auto") from None


def default_device() -> torch.device:
    from .device import diffusion_device

    return diffusion_device().device or torch.device("cpu")


def make_scheduler(name: str = "ddim"):
    """The official DDIM, or a multistep solver on the same noise schedule for fewer steps (10-12)."""
    ddim = DDIMScheduler(**SCHEDULER_CONFIG)
    if name == "ddim":
        return ddim
    if name in ("dpm++", "dpmsolver++"):
        return DPMSolverMultistepScheduler.from_config(ddim.config, algorithm_type="dpmsolver++", solver_order=2,
                                                       final_sigmas_type="zero")
    if name == "unipc":
        return UniPCMultistepScheduler.from_config(ddim.config, solver_order=2)
    raise InputError(f"unknown scheduler {name!r}: use one of {', '.join(SCHEDULERS)}")


@dataclass
class GenerationSettings:
    """What one generation does. Speed/memory switches never change the model, only how it runs.

    `official=True` restores every official numeric choice (fp32, no TF32, wrapping windows, DDIM,
    one window per call, features parked on the CPU, per-frame decode) whatever the other switches
    say. `fp16_reference` keeps quirk Q6 (reference tokens rounded to fp16); `noise_device` "cpu"
    makes a seed give the same video on any machine ("cuda" matches the official script's videos)."""

    width: int = 512
    height: int = 512
    num_inference_steps: int = 20
    guidance_scale: float = 3.5
    seed: int = 42
    context: ContextSettings = field(default_factory=ContextSettings)
    decode_chunk: int = 8            # frames per VAE decode call (and per chunk handed to the caller)
    fp16_reference: bool = True
    noise_device: str = "cpu"
    dtype: str = "auto"              # auto: fp16 on CUDA/MPS (VAE kept fp32), fp32 on CPU | fp32 | fp16 | bf16
    scheduler: str = "ddim"          # ddim (official) | dpm++ | unipc (use 10-12 steps)
    window_batch: int = 4            # context windows per denoising-UNet call
    features_on_device: bool = True  # guidance features computed once, kept on the device in the model dtype
    tf32: bool = True                # TF32 matmuls/convolutions when running fp32 on CUDA
    channels_last: bool = False      # channels_last memory format for the UNets and the VAE
    compile: bool = False            # torch.compile the denoising UNet (first call compiles: minutes)
    cpu_offload: bool = False        # accelerate model CPU offload: one model on the GPU at a time
    vae_slicing: bool = False        # decode one frame per VAE call
    vae_tiling: bool = False         # decode in overlapping tiles (less VRAM at large sizes)
    official: bool = False

    def __post_init__(self) -> None:
        if self.official:
            self.dtype, self.scheduler, self.window_batch, self.features_on_device = "fp32", "ddim", 1, False
            self.tf32 = self.channels_last = self.compile = False
            self.decode_chunk = 1
            self.context = dataclasses.replace(self.context, closed_loop=True)
        if self.scheduler not in SCHEDULERS and self.scheduler != "dpmsolver++":
            raise InputError(f"unknown scheduler {self.scheduler!r}: use one of {', '.join(SCHEDULERS)}")
        if self.window_batch < 1 or self.decode_chunk < 1:
            raise InputError("window_batch and decode_chunk must be at least 1")

    def torch_dtype(self, device: torch.device | str) -> torch.dtype:
        """The model dtype on `device`: `auto` is fp16 on an accelerator, fp32 on the CPU."""
        if self.dtype == "auto":
            return torch.float16 if torch.device(device).type in ("cuda", "mps") else torch.float32
        return parse_dtype(self.dtype)

    @classmethod
    def from_config(cls, cfg: Any) -> "GenerationSettings":
        """From the `generate.diffusion` section of the reenact config (any mapping with these keys)."""
        data = dict(cfg)
        ctx = ContextSettings(**{k: data.pop(k2) for k, k2 in (("frames", "context_frames"),
                                                                ("overlap", "context_overlap"),
                                                                ("stride", "context_stride"),
                                                                ("closed_loop", "closed_loop"))
                                 if k2 in data})
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__ and k != "context"}
        return cls(context=ctx, **known)


@dataclass
class GeneratedVideo:
    frames: torch.Tensor          # (F, 3, H, W) float32 in [0, 1], on the CPU
    latents: torch.Tensor         # (1, 4, F, H/8, W/8) final latents, before decoding

    def to_uint8(self) -> np.ndarray:
        """(F, H, W, 3) uint8, rounded as torchvision's save_image does."""
        return to_uint8(self.frames)


def to_uint8(frames: torch.Tensor) -> np.ndarray:
    """(F, 3, H, W) in [0, 1] -> (F, H, W, 3) uint8, rounded as torchvision's save_image does."""
    return (frames.permute(0, 2, 3, 1) * 255 + 0.5).clamp(0, 255).to(torch.uint8).numpy()


StepCallback = Callable[[int, int, torch.Tensor], None]   # (step index, timestep, latents after the step)


class _GuidanceFeatures:
    """Summed guidance features per frame.

    Random-access sources in official mode: computed one window at a time and parked on the CPU (the
    accelerator only ever holds one window's maps). Otherwise -- and always for a stream of batches --
    computed once, `batch` frames at a time, into one tensor on `store` (the device by default), so no
    copy crosses the bus during the denoising loop and the maps themselves are never all in memory."""

    def __init__(self, model: MagicPortraitModel, sources: dict[str, FrameSource] | Iterable, width: int,
                 height: int, store: torch.device | str | None = None, batch: int = 16,
                 device: torch.device | str | None = None) -> None:
        # `device` is where the model runs: with CPU offload the weights rest on the CPU and accelerate's
        # hook moves a module's inputs only when it moves the module itself, so inputs go there first
        self.model, self.width, self.height = model, width, height
        self.device = torch.device(device) if device is not None else model.device
        self.cache: dict[int, torch.Tensor] = {}
        self.all: torch.Tensor | None = None
        if isinstance(sources, dict) and store is None:
            self.sources = sources
            return
        self.sources = None
        store = torch.device(store or "cpu")
        chunks = []
        stream = stream_frames(sources, width, height, batch) if not isinstance(sources, dict) else (
            {t: s.read(range(i, min(i + batch, len(s))), width, height) for t, s in sources.items()}
            for i in range(0, len(next(iter(sources.values()))), batch))
        for maps in stream:
            feats = self.model.encode_guidance({t: m.to(self.device) for t, m in maps.items()})[0]
            chunks.append(feats.to(store, self.model.dtype if store.type != "cpu" else feats.dtype))
        if not chunks:
            raise InputError("guidance maps hold no frames")
        self.all = torch.cat(chunks, dim=1)                              # (C0, F, h, w)

    def __len__(self) -> int:
        return self.all.shape[1] if self.all is not None else len(next(iter(self.sources.values())))

    def window(self, frames: list[int]) -> torch.Tensor:
        """(1, C0, len(frames), h, w) on the device the model runs on."""
        if self.all is not None:
            return self.all[:, frames][None].to(self.device)
        todo = [i for i in frames if i not in self.cache]
        if todo:
            maps = {t: s.read(todo, self.width, self.height).to(self.device) for t, s in self.sources.items()}
            feats = self.model.encode_guidance(maps)[0]                # (C0, n, h, w)
            for j, i in enumerate(todo):
                self.cache[i] = feats[:, j].to("cpu", copy=True)
        return torch.stack([self.cache[i] for i in frames], dim=1)[None].to(self.device)


class MagicPortraitPipeline:
    """model + VAE + scheduler; call it with a reference image and guidance maps."""

    def __init__(self, model: MagicPortraitModel, vae: AutoencoderKL, scheduler: Any = None,
                 prompt_embeds: torch.Tensor | None = None, sd15_dir: str | Path | None = None,
                 cache_dir: str | Path | None = None, text_encoder: Path | None = None,
                 tokenizer: Path | None = None) -> None:
        self.model, self.vae = model, vae
        self.scheduler = scheduler or make_scheduler()
        self._prompt_embeds = prompt_embeds
        self.sd15_dir, self.cache_dir = sd15_dir, cache_dir
        self.text_encoder, self.tokenizer = text_encoder, tokenizer
        self._offload_device: torch.device | None = None
        self._offload_hooks: list = []
        self._compiled = False

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
        """Where the computation runs (with CPU offload the weights rest on the CPU between uses)."""
        return self._offload_device or self.model.device

    @property
    def prompt_embeds(self) -> torch.Tensor:
        if self._prompt_embeds is None:
            if self.sd15_dir is None and self.text_encoder is None:
                raise AssetError("no prompt embedding: give prompt_embeds or the stable-diffusion-v1-5 folder")
            self._prompt_embeds = prompt_embedding(self.sd15_dir, self.cache_dir, text_encoder=self.text_encoder,
                                                   tokenizer=self.tokenizer)
        return self._prompt_embeds

    # ---- switches that change how the models run, never what they compute --------------------------
    def configure(self, s: "GenerationSettings") -> None:
        """Apply the run-time switches of `s` (idempotent; called by every generation)."""
        if self.device.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = s.tf32
            torch.backends.cudnn.allow_tf32 = s.tf32
        fmt = torch.channels_last if s.channels_last else torch.contiguous_format
        for module in (self.model.denoising_unet, self.model.reference_unet, self.vae):
            module.to(memory_format=fmt)
        self.vae.enable_slicing() if s.vae_slicing else self.vae.disable_slicing()
        self.vae.enable_tiling() if s.vae_tiling else self.vae.disable_tiling()
        if s.compile and not self._compiled:
            # the UNet sees one window shape per run: compiled once, replayed (CUDA graphs where it helps)
            self.model.denoising_unet.compile(mode="max-autotune-no-cudagraphs" if self.device.type != "cuda"
                                              else "reduce-overhead", dynamic=False)
            self._compiled = True
        if s.cpu_offload and not self._offload_hooks:
            self.enable_model_cpu_offload()
        elif not s.cpu_offload and self._offload_hooks:
            self.disable_model_cpu_offload()

    def enable_model_cpu_offload(self, device: torch.device | str | None = None) -> None:
        """accelerate hooks: each model moves to `device` when called and back to the CPU when the next
        one is, so only one of them (the denoising UNet, ~2.6 GB in fp16) occupies the GPU at a time."""
        from accelerate import cpu_offload_with_hook

        device = torch.device(device) if device is not None else self.device
        self.disable_model_cpu_offload()
        self._offload_device = device
        self.model.to("cpu")
        self.vae.to("cpu")
        hook = None
        for module in (self.vae, self.model.reference_unet, *self.model.guidance_encoders.values(),
                       self.model.denoising_unet):
            _, hook = cpu_offload_with_hook(module, device, prev_module_hook=hook)
            self._offload_hooks.append(hook)
        # the VAE decodes after the UNet: it offloads the UNet when it runs again
        self._offload_hooks[0].prev_module_hook = hook

    def disable_model_cpu_offload(self) -> None:
        from accelerate.hooks import remove_hook_from_module

        if not self._offload_hooks:
            return
        for module in (self.vae, self.model.reference_unet, *self.model.guidance_encoders.values(),
                       self.model.denoising_unet):
            remove_hook_from_module(module)
        device, self._offload_device, self._offload_hooks = self._offload_device, None, []
        self.to(device)

    # ---- generation ----------------------------------------------------------------------------------
    @torch.no_grad()
    def __call__(self, reference_image: Any, guidance: Any, settings: GenerationSettings = GenerationSettings(),
                 *, num_frames: int | None = None, prompt_embeds: torch.Tensor | None = None,
                 latents: torch.Tensor | None = None, progress: bool = True,
                 callback: StepCallback | None = None) -> GeneratedVideo:
        """reference_image: path, PIL image or (H, W, 3) array (the 512x512 crop for the release).
        guidance: folder with depth/ normal/ render/ subfolders, a mapping (see `inputs.guidance_sources`),
        or an iterable of batches (`GuidanceFrames` or {type: (B, H, W, 3) uint8}) read once in order.
        latents: optional initial noise (1, 4, F, H/8, W/8), replacing the seeded draw.
        Returns every frame decoded; for long clips use `generate_latents` + `iter_frames`."""
        final = self.generate_latents(reference_image, guidance, settings, num_frames=num_frames,
                                      prompt_embeds=prompt_embeds, latents=latents, progress=progress,
                                      callback=callback)
        return GeneratedVideo(self.decode(final, settings.decode_chunk), final)

    @torch.no_grad()
    def generate_latents(self, reference_image: Any, guidance: Any,
                         settings: GenerationSettings = GenerationSettings(), *, num_frames: int | None = None,
                         prompt_embeds: torch.Tensor | None = None, latents: torch.Tensor | None = None,
                         progress: bool = True, callback: StepCallback | None = None) -> torch.Tensor:
        """The denoised latents (1, 4, F, H/8, W/8) float32 on the CPU."""
        s = settings
        # 1. check inputs
        check_size(s.width, s.height)
        if s.context.frames > self.model.config.motion.max_frames:
            raise InputError(f"context window of {s.context.frames} frames exceeds the motion module's "
                             f"{self.model.config.motion.max_frames}")
        self.configure(s)
        device, dtype = self.device, self.model.dtype
        streamed = is_guidance_stream(guidance)
        sources = guidance if streamed else guidance_sources(guidance, self.model.config.guidance_types)
        if streamed and num_frames is None:
            raise InputError("a stream of guidance batches needs num_frames")
        total = num_frames if streamed else len(next(iter(sources.values())))
        f = total if num_frames is None else num_frames
        if not 0 < f <= total:
            raise InputError(f"asked for {num_frames} frames but the guidance maps have {total}")
        h, w = s.height // 8, s.width // 8
        do_cfg = s.guidance_scale > 1.0

        # 2. prompt embedding (the same for both CFG halves: CFG here is reference guidance, Q2)
        text = (prompt_embeds if prompt_embeds is not None else self.prompt_embeds).to(device, dtype)

        # 3. reference latents and reference features, once for the whole clip (t = 0, Q5)
        reference = self.encode_reference(reference_image, s.width, s.height)
        features = self.model.reference_features(reference, text, fp16_roundtrip=s.fp16_reference)

        # 4. guidance features: once per frame (streamed sources are read here, in one pass)
        store = device if s.features_on_device else ("cpu" if streamed else None)
        guidance_features = _GuidanceFeatures(self.model, sources, s.width, s.height, store=store, device=device)
        if len(guidance_features) < f:
            raise InputError(f"asked for {f} frames but the guidance stream held {len(guidance_features)}")

        # 5. initial noise
        if latents is None:
            latents = self.initial_noise(f, s)
        elif tuple(latents.shape) != (1, 4, f, h, w):
            raise InputError(f"initial latents must have shape {(1, 4, f, h, w)}, got {tuple(latents.shape)}")
        scheduler = self.scheduler if s.scheduler == "ddim" and isinstance(self.scheduler, DDIMScheduler) \
            else make_scheduler(s.scheduler)
        scheduler.set_timesteps(s.num_inference_steps, device=device)
        latents = latents.to(device, torch.float32) * scheduler.init_noise_sigma

        # 6. denoising loop over context windows, `window_batch` windows per UNet call
        windows = uniform_windows(f, s.context)
        groups = [windows[i:i + s.window_batch] for i in range(0, len(windows), s.window_batch)]
        bar = tqdm(total=len(scheduler.timesteps) * len(windows), desc="diffusion", unit="window",
                   disable=not progress)
        step_kwargs = {"eta": 0.0} if isinstance(scheduler, DDIMScheduler) else {}
        try:
            for step, t in enumerate(scheduler.timesteps):
                pred = self._predict(latents, t, groups, guidance_features, text, features, do_cfg,
                                     s.guidance_scale, bar)
                latents = scheduler.step(pred, t, latents, **step_kwargs).prev_sample
                if callback is not None:
                    callback(step, int(t), latents)
        finally:
            bar.close()
        return latents.cpu()

    @staticmethod
    def initial_noise(num_frames: int, settings: GenerationSettings) -> torch.Tensor:
        """(1, 4, F, H/8, W/8) float32 standard normal noise from the seed, drawn on `noise_device`."""
        generator = torch.Generator(settings.noise_device).manual_seed(settings.seed)
        shape = (1, 4, num_frames, settings.height // 8, settings.width // 8)
        return randn_tensor(shape, generator=generator, device=torch.device(settings.noise_device),
                            dtype=torch.float32)

    def encode_reference(self, image: Any, width: int, height: int) -> torch.Tensor:
        """(1, 4, H/8, W/8): the VAE posterior mean times 0.18215 (not a sample; Q13)."""
        pixels = reference_tensor(image, width, height).to(self.device, self.vae.dtype)
        return (self.vae.encode(pixels).latent_dist.mean * VAE_LATENT_SCALE).to(self.device, self.model.dtype)

    def _predict(self, latents: torch.Tensor, t: torch.Tensor, groups: list[list[list[int]]],
                 guidance_features: _GuidanceFeatures, text: torch.Tensor, reference: ReferenceFeatures,
                 do_cfg: bool, scale: float, bar: tqdm) -> torch.Tensor:
        """The CFG-combined model prediction for every frame, averaged over the windows holding it."""
        copies = 2 if do_cfg else 1
        pred_sum = torch.zeros((copies, *latents.shape[1:]), device=latents.device, dtype=torch.float32)
        counts = torch.zeros((1, 1, latents.shape[2], 1, 1), device=latents.device, dtype=torch.float32)
        for group in groups:
            n = len(group)
            # batch rows: [uncond w1 .. uncond wn, cond w1 .. cond wn] (unconditional rows first)
            x = torch.cat([latents[:, :, w] for w in group]).repeat(copies, 1, 1, 1, 1)
            g = torch.cat([guidance_features.window(w) for w in group]).repeat(copies, 1, 1, 1, 1)
            out = self.model.denoise(x, t, text.expand(copies * n, -1, -1), g, reference,
                                     uncond_batches=n if do_cfg else 0).float()
            for j, window in enumerate(group):
                pred_sum[:, :, window] += out[j::n]
                counts[:, :, window] += 1
            bar.update(n)
        pred = pred_sum / counts
        if do_cfg:
            uncond, cond = pred.chunk(2)
            pred = uncond + scale * (cond - uncond)
        return pred

    def decode(self, latents: torch.Tensor, chunk: int = 8) -> torch.Tensor:
        """(1, 4, F, h, w) latents -> (F, 3, H, W) in [0, 1] on the CPU (the whole clip: short clips only)."""
        return torch.cat(list(self.iter_decoded(latents, chunk)))

    def iter_decoded(self, latents: torch.Tensor, chunk: int = 8) -> Iterator[torch.Tensor]:
        """(n, 3, H, W) float32 in [0, 1] on the CPU, `chunk` frames at a time."""
        z = latents[0].transpose(0, 1) / VAE_LATENT_SCALE                # (F, 4, h, w)
        for i in range(0, z.shape[0], max(1, chunk)):
            x = self.vae.decode(z[i:i + chunk].to(self.device, self.vae.dtype)).sample
            yield (x / 2 + 0.5).clamp(0, 1).float().cpu()

    def iter_frames(self, latents: torch.Tensor, chunk: int = 8) -> Iterator[np.ndarray]:
        """(H, W, 3) uint8 frames one by one; only one decoded chunk exists at a time."""
        for frames in self.iter_decoded(latents, chunk):
            yield from to_uint8(frames)


def load_pipeline(weights_dir: str | Path | None = None, *, paths: WeightPaths | None = None,
                  device: torch.device | str | None = None, dtype: str | torch.dtype = "fp32",
                  cache_dir: str | Path | None = None, prompt_embeds: torch.Tensor | None = None,
                  motion_precedence: str = "denoising_unet") -> MagicPortraitPipeline:
    """Everything from a weights folder in any layout `inspect_weights` knows, or explicit paths.
    dtype "auto": fp16 on CUDA/MPS (the VAE stays fp32), fp32 on the CPU."""
    if paths is None:
        if weights_dir is None:
            raise ValueError("give weights_dir or paths")
        paths = WeightPaths.from_layout(inspect_weights(weights_dir))
    device = torch.device(device) if device is not None else default_device()
    torch_dtype = GenerationSettings(dtype=dtype).torch_dtype(device) if isinstance(dtype, str) else dtype
    vae = load_vae(paths.vae, torch_dtype)          # small: a missing VAE fails before the big files load
    checkpoints = load_checkpoints(paths.checkpoints, paths.sd15, motion_precedence=motion_precedence)
    model = load_model(checkpoints, device=device, dtype=torch_dtype)
    pipe = MagicPortraitPipeline(model, vae, make_scheduler(), prompt_embeds=prompt_embeds,
                                 sd15_dir=paths.sd15, cache_dir=cache_dir, text_encoder=paths.text_encoder,
                                 tokenizer=paths.tokenizer)
    return pipe.to(device, torch_dtype)


def generate_video(reference_image: Any, guidance: Any, weights_dir: str | Path,
                   settings: GenerationSettings = GenerationSettings(), *, device: str | None = None,
                   cache_dir: str | Path | None = None, num_frames: int | None = None,
                   progress: bool = True) -> GeneratedVideo:
    """One call: load everything, generate, return frames (short clips; the engine streams)."""
    pipe = load_pipeline(weights_dir, device=device, dtype=settings.dtype, cache_dir=cache_dir)
    return pipe(reference_image, guidance, settings, num_frames=num_frames, progress=progress)
