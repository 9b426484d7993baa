"""Training and fine-tuning (stage 1 images, stage 2 motion) on a folder of videos; docs/training.md.

    reenact train prepare --videos DIR -o DATASET     per-clip frames, tracks and guidance maps
    reenact train stage1 --data DATASET [--config YAML] [--set key=value]
    reenact train stage2 --data DATASET [--config YAML]
"""

from .config import ModelInit, PrepareOptions, TrainConfig, load_train_config
from .loop import Trainer, TrainResult, train_stage
from .prepare import prepare_dataset

__all__ = ["ModelInit", "PrepareOptions", "TrainConfig", "TrainResult", "Trainer", "load_train_config",
           "prepare_dataset", "train_stage"]
