"""Settings of `reenact train`: one dataclass per concern, defaults in reenact/configs/train_*.yaml.

The YAML files only restate these defaults per stage; every field can be overridden from the CLI
(`--set train.lr=5e-5`) or by a user YAML (`--config my_run.yaml`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from ..errors import InputError

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"
STAGES = ("stage1", "stage2")


@dataclass
class PrepareOptions:
    """`reenact train prepare`: which clips are kept, and how the frames are framed."""

    max_frames: int | None = None    # use only the first N frames of each clip
    min_frames: int = 8              # shorter clips are dropped (stage 2 needs whole windows)
    min_face_px: float = 64.0        # median face width (landmark extent) in the original frames, px
    max_residual: float = 12.0       # median tracking residual, px of the faces.crop_size crop (mesh: ~5-8 on clean clips)
    min_detected: float = 0.9        # share of frames with a real detection (the rest were interpolated)
    scene_cut: float = 40.0          # mean absolute grey-level jump between frames that counts as a cut
    backend: str = "auto"            # tracker: auto | flame | mesh (as `reenact guidance`)


@dataclass
class ModelInit:
    """Where the weights start. Stage 1: `sd15` (train from SD1.5) or `checkpoint` (fine-tune)."""

    sd15: str = "weights/stable-diffusion-v1-5"   # unet/config.json (+ unet weights when init=sd15)
    vae: str = "weights/sd-vae-ft-mse"
    checkpoint: str | None = None     # official ckpts folder or converted folder to fine-tune from
    motion_module: str | None = None  # AnimateDiff or official motion_module*.pth (stage 2; carried by stage 1)
    prompt_embeds: str | None = None  # a saved (1, 77, D) prompt embedding (.pt / .safetensors); null = from sd15
    guidance_widths: tuple[int, ...] = (16, 32, 96, 256)   # new guidance encoders (official widths)


@dataclass
class TrainConfig:
    """One training run (stage 1 or stage 2)."""

    stage: str = "stage1"
    output_dir: str = "outputs/train"
    init: ModelInit = field(default_factory=ModelInit)
    # data
    width: int = 512
    height: int = 512
    num_frames: int = 1              # frames per sample: 1 in stage 1, a clip (e.g. 16) in stage 2
    frame_stride: int = 1            # stage 2: take every k-th frame
    batch_size: int = 1              # per process, per micro-step
    num_workers: int = 2             # data-loading worker processes (0 = in the training process)
    # optimisation
    max_steps: int = 30000
    lr: float = 1e-5
    lr_scheduler: str = "constant_with_warmup"   # any diffusers get_scheduler name
    lr_warmup_steps: int = 1
    gradient_accumulation_steps: int = 1
    max_grad_norm: float = 1.0
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_weight_decay: float = 1e-2
    adam_epsilon: float = 1e-8
    use_8bit_adam: bool = False      # bitsandbytes AdamW8bit (pip install bitsandbytes)
    ema_decay: float | None = None   # e.g. 0.9999; null = no EMA
    mixed_precision: str = "no"      # no | fp16 | bf16
    gradient_checkpointing: bool = False
    # diffusion objective
    noise_offset: float = 0.0        # e.g. 0.05: brightness offset noise
    snr_gamma: float | None = None   # min-SNR weighting (e.g. 5.0); null = plain MSE
    reference_drop: float = 0.1      # share of steps without the reference (for reference CFG at inference)
    overfit_batches: int = 0         # debugging: > 0 repeats the first N optimiser steps' batches (data, noise,
                                     # timesteps, VAE samples, reference drops) over and over; the loss should
                                     # then fall towards 0, else the setup cannot learn. 0 = normal training
    # bookkeeping
    seed: int = 42
    checkpoint_every: int = 1000
    checkpoints_total_limit: int | None = 3
    validate_every: int = 1000       # 0 = never
    validation_clip: str | None = None   # clip name in the dataset; null = the first
    validation_frames: int = 8
    validation_steps: int = 20
    log_with: str = "tensorboard"    # accelerate tracker(s), comma separated; skipped when not installed
    progress: bool = True


def _merge(base: Any, sources: list[Any]) -> Any:
    try:
        return OmegaConf.merge(base, *sources)
    except OmegaConfBaseException as exc:
        raise InputError(f"bad training config: {str(exc).splitlines()[0]}; "
                         "see docs/training.md for the options") from None


def load_train_config(stage: str, path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> TrainConfig:
    """Defaults of the dataclass < reenact/configs/train_<stage>.yaml < the user's YAML < overrides."""
    if stage not in STAGES:
        raise InputError(f"unknown training stage {stage!r}; use stage1 or stage2")
    sources = [OmegaConf.load(CONFIG_DIR / f"train_{stage}.yaml")]
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise InputError(f"training config not found: {p}")
        try:
            sources.append(OmegaConf.load(p))
        except Exception as exc:
            raise InputError(f"cannot read training config {p}: {str(exc).splitlines()[0]}") from None
    try:
        sources.append(OmegaConf.from_dotlist([o.removeprefix("train.") for o in overrides]))
    except Exception as exc:
        raise InputError(f"bad --set override: {str(exc).splitlines()[0]}; use KEY=VALUE") from None
    merged = _merge(OmegaConf.structured(TrainConfig), sources)
    cfg: TrainConfig = OmegaConf.to_object(merged)
    cfg.stage = stage
    check_train_config(cfg)
    return cfg


def check_train_config(cfg: TrainConfig) -> None:
    """One-line errors for settings that would only fail deep inside the run."""
    if cfg.width % 64 or cfg.height % 64 or cfg.width <= 0 or cfg.height <= 0:
        raise InputError(f"training size {cfg.width}x{cfg.height} must be positive multiples of 64 "
                         "(the UNet halves the latent grid three times)")
    if cfg.stage == "stage1" and cfg.num_frames != 1:
        raise InputError("stage 1 trains on single frames: set num_frames=1")
    if cfg.stage == "stage2" and cfg.num_frames < 2:
        raise InputError("stage 2 trains the motion modules on clips: set num_frames to 2 or more (16 in the paper)")
    if cfg.mixed_precision not in ("no", "fp16", "bf16"):
        raise InputError(f"mixed_precision {cfg.mixed_precision!r}: use no, fp16 or bf16")
    if not 0.0 <= cfg.reference_drop < 1.0:
        raise InputError("reference_drop must be in [0, 1)")
    if cfg.overfit_batches < 0:
        raise InputError("overfit_batches must be 0 (normal training) or a number of batches to repeat")
    for name in ("batch_size", "max_steps", "gradient_accumulation_steps", "checkpoint_every"):
        if getattr(cfg, name) < 1:
            raise InputError(f"{name} must be at least 1")


def config_dict(cfg: TrainConfig) -> dict[str, Any]:
    """Plain nested dict (for the run's config.yaml and the trackers' hyper-parameters)."""
    return OmegaConf.to_container(OmegaConf.structured(cfg), resolve=True)


def flat_hparams(cfg: TrainConfig) -> dict[str, Any]:
    """Scalars only, as TensorBoard's hparams want them."""
    out: dict[str, Any] = {}
    for f in fields(cfg):
        v = getattr(cfg, f.name)
        if f.name == "init":
            continue
        out[f.name] = v if isinstance(v, (int, float, str, bool)) else str(v)
    return out
