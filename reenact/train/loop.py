"""The training loop both stages share: accelerate, the diffusion objective, checkpoints, validation.

Run layout under `output_dir`:

    config.yaml                      the resolved TrainConfig
    metrics.jsonl                    one line per optimiser step: step, loss, lr, processes (main process)
    checkpoints/checkpoint-<step>/   state/ (accelerate: model, optimiser, schedule, EMA, RNG) +
                                     magicportrait/ (the official files of that step)
    validation/step-<step>.mp4       the validation clip generated with the weights of that step
    final/ and final-converted/      the official files and the safetensors folder at the end
    logs/                            TensorBoard (or other accelerate trackers)

Determinism: the data, noise and timesteps of micro-step i come from (seed, i) only (dataset.py), and
the reference is dropped on micro-steps chosen the same way, so resuming from a checkpoint continues
the same run bit for bit, and any number of processes with the same global batch follows the same
loss curve (up to float summation order).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import math
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InputError, NotAvailableError
from ..generate.diffusion.config import SCHEDULER_CONFIG, VAE_LATENT_SCALE
from ..generate.diffusion.model import MagicPortraitModel
from .checkpoints import save_official
from .config import TrainConfig, config_dict, flat_hparams
from .dataset import SampleDrawer, StepBatches, open_dataset, step_loader
from .models import build_stage_model, enable_gradient_checkpointing, read_initial_weights, trainable_parameters
from ..processes import check_process_group, needs_cpu_group

log = logging.getLogger("reenact")


class DiffusionObjective(nn.Module):
    """The training-time forward: guidance features, reference features (with gradients), denoising UNet."""

    def __init__(self, model: MagicPortraitModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, noisy: torch.Tensor, timesteps: torch.Tensor, ref_latents: torch.Tensor, maps: torch.Tensor,
                text: torch.Tensor, drop_reference: bool = False) -> torch.Tensor:
        guidance = self.model.encode_guidance(maps)
        reference = None if drop_reference else self.model.writer.record(ref_latents, text)
        return self.model.denoise(noisy, timesteps, text, guidance, reference)


@dataclass
class TrainResult:
    steps: int
    losses: list[float] = field(default_factory=list)     # per optimiser step, global-batch mean
    final: Path | None = None
    output_dir: Path | None = None


def _trackers(requested: str) -> list[str]:
    names = [n.strip() for n in requested.split(",") if n.strip() and n.strip() != "none"]
    available = [n for n in names if importlib.util.find_spec(n) is not None]
    for n in set(names) - set(available):
        log.info("tracker %s is not installed (pip install %s); metrics go to metrics.jsonl only", n, n)
    return available


def load_prompt_embeds(cfg: TrainConfig) -> torch.Tensor:
    """(1, 77, D): a saved embedding, or the fixed prompt through SD1.5's text encoder (cached)."""
    if cfg.init.prompt_embeds:
        path = Path(cfg.init.prompt_embeds)
        if not path.is_file():
            raise InputError(f"init.prompt_embeds file not found: {path}")
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return next(iter(load_file(str(path)).values()))
        return torch.load(path, map_location="cpu", weights_only=True)
    from ..generate.diffusion.prompt import prompt_embedding

    return prompt_embedding(cfg.init.sd15)


def micro_rng(seed: int, micro_step: int, what: int) -> np.random.Generator:
    return np.random.default_rng([seed, micro_step, what])


class Trainer:
    """One stage's run. `train()` runs to `max_steps` (or `stop_after` more steps) and saves as it goes."""

    def __init__(self, cfg: TrainConfig, dataset: str | Path, *, resume: str | Path | None = None) -> None:
        from accelerate import Accelerator
        from accelerate.utils import DistributedDataParallelKwargs, ProjectConfiguration, set_seed
        from diffusers import DDPMScheduler
        from diffusers.optimization import get_scheduler

        from ..generate.diffusion.pipeline import load_vae

        self.cfg = cfg
        self.output_dir = Path(cfg.output_dir)
        trackers = _trackers(cfg.log_with)
        self.accelerator = Accelerator(
            cpu=needs_cpu_group(),
            gradient_accumulation_steps=cfg.gradient_accumulation_steps, mixed_precision=cfg.mixed_precision,
            log_with=trackers or None,
            project_config=ProjectConfiguration(project_dir=str(self.output_dir), logging_dir=str(self.output_dir / "logs")),
            # the reference UNet sits idle on reference-dropped steps
            kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)])
        acc = self.accelerator
        check_process_group(acc.num_processes)
        log.info("%s on %d process(es), %s", cfg.stage, acc.num_processes, acc.device)
        set_seed(cfg.seed)
        self.clips = open_dataset(dataset, min_frames=(cfg.num_frames - 1) * cfg.frame_stride + 1)
        self.weights = read_initial_weights(cfg)
        self.model = build_stage_model(cfg, self.weights)
        if cfg.gradient_checkpointing:
            enable_gradient_checkpointing(self.model)
        self.vae = load_vae(cfg.init.vae).to(acc.device).requires_grad_(False)
        self.text = load_prompt_embeds(cfg).to(acc.device)
        self.noise_scheduler = DDPMScheduler(**SCHEDULER_CONFIG)
        params = [p for _, p in trainable_parameters(self.model, cfg.stage)]
        self.optimizer = self._optimizer(params)
        self.lr_scheduler = get_scheduler(cfg.lr_scheduler, self.optimizer, num_warmup_steps=cfg.lr_warmup_steps,
                                          num_training_steps=cfg.max_steps)
        self.ema = None
        if cfg.ema_decay:
            from diffusers.training_utils import EMAModel

            self.ema = EMAModel(params, decay=cfg.ema_decay)
            acc.register_for_checkpointing(self.ema)
        # the schedule is stepped here once per optimiser step, whatever the process count
        acc.register_for_checkpointing(self.lr_scheduler)
        self.objective, self.optimizer = acc.prepare(DiffusionObjective(self.model), self.optimizer)
        drawer = SampleDrawer(self.clips, cfg.width, cfg.height, cfg.num_frames, cfg.frame_stride, cfg.seed)
        self.batches = StepBatches(drawer, cfg.batch_size, acc.process_index, acc.num_processes,
                                   repeat_every=cfg.overfit_batches * cfg.gradient_accumulation_steps)
        self.step = 0
        if resume is not None:
            self._resume(Path(resume))
        if acc.is_main_process:
            self.output_dir.mkdir(parents=True, exist_ok=True)
            from omegaconf import OmegaConf

            (self.output_dir / "config.yaml").write_text(OmegaConf.to_yaml(config_dict(cfg)))
            if trackers:
                acc.init_trackers(cfg.stage, config=flat_hparams(cfg))

    # ---- setup ------------------------------------------------------------------------------
    def _optimizer(self, params: list[nn.Parameter]) -> torch.optim.Optimizer:
        cfg = self.cfg
        kwargs = dict(lr=cfg.lr, betas=(cfg.adam_beta1, cfg.adam_beta2), weight_decay=cfg.adam_weight_decay,
                      eps=cfg.adam_epsilon)
        if cfg.use_8bit_adam:
            try:
                import bitsandbytes as bnb
            except ImportError:
                raise NotAvailableError("use_8bit_adam needs bitsandbytes: pip install 'reenact[train]' "
                                        "bitsandbytes, or set use_8bit_adam=false") from None
            return bnb.optim.AdamW8bit(params, **kwargs)
        return torch.optim.AdamW(params, **kwargs)

    def _resume(self, path: Path) -> None:
        if str(path) == "latest":
            found = sorted((self.output_dir / "checkpoints").glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
            if not found:
                raise InputError(f"nothing to resume in {self.output_dir / 'checkpoints'}")
            path = found[-1]
        state = path / "state"
        if not (state / "trainer.json").is_file():
            raise InputError(f"{path} is not a training checkpoint (no state/trainer.json)")
        info = json.loads((state / "trainer.json").read_text())
        if info["stage"] != self.cfg.stage:
            raise InputError(f"{path} is a {info['stage']} checkpoint; this run is {self.cfg.stage}")
        self.accelerator.load_state(str(state))
        self.step = int(info["step"])
        log.info("resumed from %s at step %d", path, self.step)

    # ---- the objective ----------------------------------------------------------------------
    @torch.no_grad()
    def _latents(self, pixels: torch.Tensor, seeds: torch.Tensor | None) -> torch.Tensor:
        """(B, 3, H, W) in [-1, 1] -> scaled latents; a posterior sample per item when seeds are given
        (targets), the mean otherwise (the reference, as inference encodes it)."""
        dist = self.vae.encode(pixels.to(self.vae.device, self.vae.dtype)).latent_dist
        if seeds is None:
            return dist.mean * VAE_LATENT_SCALE
        eps = torch.stack([torch.randn(dist.mean.shape[1:], generator=torch.Generator().manual_seed(int(s)))
                           for s in seeds]).to(dist.mean)
        return (dist.mean + dist.std * eps) * VAE_LATENT_SCALE

    def loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """(loss to backpropagate, per-sample losses)."""
        cfg, device = self.cfg, self.accelerator.device
        target_px = batch["target"]                                       # (B, 3, F, H, W)
        b, _, f, h, w = target_px.shape
        seeds = batch["seed"]
        frame_seeds = torch.stack([seeds * 1000 + k for k in range(f)], dim=1).reshape(-1)
        folded = target_px.transpose(1, 2).reshape(b * f, 3, h, w)
        latents = self._latents(folded, frame_seeds).reshape(b, f, 4, h // 8, w // 8).transpose(1, 2).float()
        ref_latents = self._latents(batch["reference"], None).float()
        noise, timesteps = [], []
        for s in seeds.tolist():
            g = torch.Generator().manual_seed(int(s) + 1)
            n = torch.randn(latents.shape[1:], generator=g)
            if cfg.noise_offset:
                n = n + cfg.noise_offset * torch.randn((4, 1, 1, 1), generator=g)
            noise.append(n)
            timesteps.append(torch.randint(0, self.noise_scheduler.config.num_train_timesteps, (1,), generator=g))
        noise = torch.stack(noise).to(device)
        timesteps = torch.cat(timesteps).to(device)
        noisy = self.noise_scheduler.add_noise(latents, noise, timesteps)
        target = self.noise_scheduler.get_velocity(latents, noise, timesteps)
        drop = bool(micro_rng(cfg.seed, int(batch["micro_step"]), 1).random() < cfg.reference_drop)
        text = self.text.expand(b, -1, -1)
        pred = self.objective(noisy, timesteps, ref_latents, batch["maps"].to(device), text, drop)
        per_sample = F.mse_loss(pred.float(), target.float(), reduction="none").mean(dim=(1, 2, 3, 4))
        if cfg.snr_gamma:
            from diffusers.training_utils import compute_snr

            snr = compute_snr(self.noise_scheduler, timesteps)
            weight = torch.clamp(snr, max=cfg.snr_gamma) / (snr + 1)        # v-prediction min-SNR
            return (per_sample * weight).mean(), per_sample.detach()
        return per_sample.mean(), per_sample.detach()

    # ---- the loop ---------------------------------------------------------------------------
    def train(self, stop_after: int | None = None) -> TrainResult:
        from tqdm.auto import tqdm

        cfg, acc = self.cfg, self.accelerator
        end = cfg.max_steps if stop_after is None else min(cfg.max_steps, self.step + stop_after)
        result = TrainResult(steps=self.step, output_dir=self.output_dir)
        accum = cfg.gradient_accumulation_steps
        loader = step_loader(self.batches, self.step * accum, cfg.num_workers)
        bar = tqdm(total=cfg.max_steps, initial=self.step, desc=cfg.stage, unit="step",
                   disable=not (cfg.progress and acc.is_local_main_process))
        window: list[torch.Tensor] = []
        self.objective.train()
        try:
            for batch in loader:
                if self.step >= end:
                    break
                with acc.accumulate(self.objective):
                    loss, per_sample = self.loss(batch)
                    acc.backward(loss)
                    if acc.sync_gradients and cfg.max_grad_norm:
                        acc.clip_grad_norm_([p for p in self.model.parameters() if p.requires_grad], cfg.max_grad_norm)
                    self.optimizer.step()
                    self.optimizer.zero_grad(set_to_none=True)
                window.append(acc.gather(per_sample).mean())
                if not acc.sync_gradients:
                    continue
                self.lr_scheduler.step()
                if self.ema is not None:
                    self.ema.step([p for p in self.model.parameters() if p.requires_grad])
                self.step += 1
                step_loss = float(torch.stack(window).mean())
                window = []
                result.losses.append(step_loss)
                self._log(step_loss, bar)
                if self.step % cfg.checkpoint_every == 0 or self.step == cfg.max_steps:
                    self.save_checkpoint()
                if cfg.validate_every and self.step % cfg.validate_every == 0:
                    self.validate()
        finally:
            bar.close()
        result.steps = self.step
        if self.step >= cfg.max_steps:
            result.final = self.save_final()
        acc.wait_for_everyone()
        acc.end_training()
        return result

    def _log(self, loss: float, bar) -> None:
        lr = self.lr_scheduler.get_last_lr()[0]
        if not math.isfinite(loss):
            raise InputError(f"the loss became {loss} at step {self.step}; lower lr or use bf16 instead of fp16")
        bar.update(1)
        bar.set_postfix(loss=f"{loss:.4f}", lr=f"{lr:.2e}")
        self.accelerator.log({"train/loss": loss, "train/lr": lr}, step=self.step)
        if self.accelerator.is_main_process:
            with open(self.output_dir / "metrics.jsonl", "a") as fh:
                fh.write(json.dumps({"step": self.step, "loss": loss, "lr": lr, "time": time.time(),
                                     "processes": self.accelerator.num_processes}) + "\n")

    # ---- saving -----------------------------------------------------------------------------
    def _official_kwargs(self) -> dict:
        return dict(sd15=self.cfg.init.sd15, unused=self.weights.extra,
                    motion=self.weights.motion if self.cfg.stage == "stage1" else None)

    def save_checkpoint(self) -> Path:
        acc = self.accelerator
        folder = self.output_dir / "checkpoints" / f"checkpoint-{self.step}"
        acc.save_state(str(folder / "state"))
        if acc.is_main_process:
            (folder / "state" / "trainer.json").write_text(json.dumps({"step": self.step, "stage": self.cfg.stage}))
            kwargs = {**self._official_kwargs(), "sd15": None}          # the converted folder only at the end
            save_official(acc.unwrap_model(self.objective).model, folder / "magicportrait", **kwargs)
            self._prune_checkpoints()
        acc.wait_for_everyone()
        return folder

    def _prune_checkpoints(self) -> None:
        limit = self.cfg.checkpoints_total_limit
        if not limit:
            return
        found = sorted((self.output_dir / "checkpoints").glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
        for old in found[:-limit]:
            shutil.rmtree(old, ignore_errors=True)

    def save_final(self) -> Path:
        """The official files (+ converted folder) with the EMA weights when EMA is on."""
        acc = self.accelerator
        final = self.output_dir / "final"
        if acc.is_main_process:
            model = acc.unwrap_model(self.objective).model
            params = [p for p in model.parameters() if p.requires_grad]
            if self.ema is not None:
                self.ema.store(params)
                self.ema.copy_to(params)
            try:
                save_official(model, final, **self._official_kwargs())
            finally:
                if self.ema is not None:
                    self.ema.restore(params)
        acc.wait_for_everyone()
        return final

    # ---- validation -------------------------------------------------------------------------
    def validate(self) -> Path | None:
        """A short clip from the validation clip's first frame and maps, written as mp4 and logged."""
        acc = self.accelerator
        if not acc.is_main_process:
            acc.wait_for_everyone()
            return None
        from ..generate.diffusion import GenerationSettings, MagicPortraitPipeline
        from ..generate.diffusion.context import ContextSettings
        from ..generate.diffusion.pipeline import make_scheduler
        from ..io.writer import write_video

        cfg = self.cfg
        clip = next((c for c in self.clips if c.name == cfg.validation_clip), self.clips[0])
        model = acc.unwrap_model(self.objective).model
        n = min(cfg.validation_frames, clip.frames)
        settings = GenerationSettings(width=cfg.width, height=cfg.height, num_inference_steps=cfg.validation_steps,
                                      seed=cfg.seed, context=ContextSettings(frames=min(12, n)), fp16_reference=False)
        model.eval()
        try:
            pipe = MagicPortraitPipeline(model, self.vae, make_scheduler(), prompt_embeds=self.text)
            video = pipe(clip.folder / "frames" / "0000.png", clip.folder / "maps", settings, num_frames=n,
                         progress=False)
        finally:
            model.train()
        frames = video.to_uint8()
        out = self.output_dir / "validation" / f"step-{self.step:06d}.mp4"
        out.parent.mkdir(parents=True, exist_ok=True)
        write_video(out, list(frames), 25.0)
        for tracker in acc.trackers:
            if tracker.name == "tensorboard":
                tracker.writer.add_images("validation/frames", frames[:: max(1, n // 4)], self.step, dataformats="NHWC")
        acc.wait_for_everyone()
        return out


def train_stage(cfg: TrainConfig, dataset: str | Path, *, resume: str | Path | None = None,
                stop_after: int | None = None) -> TrainResult:
    """`reenact train stage1|stage2`: build, train, save."""
    return Trainer(cfg, dataset, resume=resume).train(stop_after=stop_after)
