"""The MobileNetV3 feature trunk under SMIRK's encoders, in plain PyTorch.

SMIRK builds `timm.create_model("tf_mobilenetv3_large_minimal_100", features_only=True)`. timm
imports torchvision, which this project's torch cannot load, so the trunk is rebuilt here from
its published architecture (MobileNetV3-Large "minimal": no squeeze-excite, no hard-swish, ReLU
and 3x3 depthwise kernels everywhere) with the same module names, so that the state-dict keys
and shapes equal timm's and SMIRK_em1.pt loads unchanged. Facts kept from the `tf_` variant:
BatchNorm eps 1e-3 and TensorFlow "SAME" padding (for a stride-2 3x3 conv on an even input,
one row/column of zeros after the image and none before, unlike PyTorch's symmetric padding).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

TF_BN_EPS = 1e-3
STEM_CHANNELS = 16


@dataclass(frozen=True)
class BlockSpec:
    """One block: 'ds' depthwise-separable, 'ir' inverted residual, 'cn' 1x1 conv.
    `mid` is the expanded width of an 'ir' block (timm rounds in_chs * ratio to a multiple of 8)."""

    kind: str
    out: int
    stride: int = 1
    mid: int = 0


# Stages of tf_mobilenetv3_large_minimal_100 (timm's `blocks.<stage>.<block>`); the widths are
# those of the released checkpoints.
LARGE_MINIMAL_STAGES: tuple[tuple[BlockSpec, ...], ...] = (
    (BlockSpec("ds", 16),),
    (BlockSpec("ir", 24, 2, 64), BlockSpec("ir", 24, 1, 72)),
    (BlockSpec("ir", 40, 2, 72), BlockSpec("ir", 40, 1, 120), BlockSpec("ir", 40, 1, 120)),
    (BlockSpec("ir", 80, 2, 240), BlockSpec("ir", 80, 1, 200), BlockSpec("ir", 80, 1, 184),
     BlockSpec("ir", 80, 1, 184)),
    (BlockSpec("ir", 112, 1, 480), BlockSpec("ir", 112, 1, 672)),
    (BlockSpec("ir", 160, 2, 672), BlockSpec("ir", 160, 1, 960), BlockSpec("ir", 160, 1, 960)),
    (BlockSpec("cn", 960),),
)
# timm's features_only output: the end of every stage after which the resolution halves, and the
# last stage (strides 2, 4, 8, 16, 32; 16, 24, 40, 112, 960 channels).
LARGE_MINIMAL_FEATURE_STAGES = (0, 1, 2, 4, 6)


class SameConv2d(nn.Conv2d):
    """Bias-free conv with TensorFlow "SAME" padding: output size ceil(input / stride), the odd
    padding pixel going after the input. Stride-1 odd kernels are padded statically (k // 2)."""

    def __init__(self, in_chs: int, out_chs: int, kernel_size: int, stride: int = 1, groups: int = 1) -> None:
        self.dynamic = stride > 1
        super().__init__(in_chs, out_chs, kernel_size, stride=stride, groups=groups, bias=False,
                         padding=0 if self.dynamic else kernel_size // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.dynamic:
            pads = []
            for size, k, s in zip(reversed(x.shape[-2:]), reversed(self.kernel_size), reversed(self.stride)):
                total = max((math.ceil(size / s) - 1) * s + k - size, 0)
                pads += [total // 2, total - total // 2]
            x = F.pad(x, pads)
        return super().forward(x)


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=TF_BN_EPS)


class DepthwiseSeparable(nn.Module):
    """3x3 depthwise conv, BN, ReLU, 1x1 conv, BN (no activation); residual when shapes allow."""

    def __init__(self, in_chs: int, out_chs: int, stride: int) -> None:
        super().__init__()
        self.has_skip = stride == 1 and in_chs == out_chs
        self.conv_dw = SameConv2d(in_chs, in_chs, 3, stride, groups=in_chs)
        self.bn1 = _bn(in_chs)
        self.conv_pw = SameConv2d(in_chs, out_chs, 1)
        self.bn2 = _bn(out_chs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn2(self.conv_pw(F.relu(self.bn1(self.conv_dw(x)))))
        return x + y if self.has_skip else y


class InvertedResidual(nn.Module):
    """1x1 expand, BN, ReLU, 3x3 depthwise, BN, ReLU, 1x1 project, BN; residual when shapes allow."""

    def __init__(self, in_chs: int, out_chs: int, stride: int, mid: int) -> None:
        super().__init__()
        self.has_skip = stride == 1 and in_chs == out_chs
        self.conv_pw = SameConv2d(in_chs, mid, 1)
        self.bn1 = _bn(mid)
        self.conv_dw = SameConv2d(mid, mid, 3, stride, groups=mid)
        self.bn2 = _bn(mid)
        self.conv_pwl = SameConv2d(mid, out_chs, 1)
        self.bn3 = _bn(out_chs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv_pw(x)))
        y = F.relu(self.bn2(self.conv_dw(y)))
        y = self.bn3(self.conv_pwl(y))
        return x + y if self.has_skip else y


class ConvBnRelu(nn.Module):
    """The final 1x1 conv, BN, ReLU (no residual)."""

    def __init__(self, in_chs: int, out_chs: int) -> None:
        super().__init__()
        self.conv = SameConv2d(in_chs, out_chs, 1)
        self.bn1 = _bn(out_chs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn1(self.conv(x)))


def _block(spec: BlockSpec, in_chs: int) -> nn.Module:
    if spec.kind == "ds":
        return DepthwiseSeparable(in_chs, spec.out, spec.stride)
    if spec.kind == "ir":
        return InvertedResidual(in_chs, spec.out, spec.stride, spec.mid)
    return ConvBnRelu(in_chs, spec.out)


class MobileNetV3Features(nn.Module):
    """`forward` returns the feature maps of `feature_stages` (timm's features_only list), finest
    first; `feature_channels` gives their widths."""

    def __init__(self, stages: tuple[tuple[BlockSpec, ...], ...] = LARGE_MINIMAL_STAGES,
                 feature_stages: tuple[int, ...] = LARGE_MINIMAL_FEATURE_STAGES) -> None:
        super().__init__()
        self.conv_stem = SameConv2d(3, STEM_CHANNELS, 3, stride=2)
        self.bn1 = _bn(STEM_CHANNELS)
        in_chs, stage_modules = STEM_CHANNELS, []
        for stage in stages:
            blocks = []
            for spec in stage:
                blocks.append(_block(spec, in_chs))
                in_chs = spec.out
            stage_modules.append(nn.Sequential(*blocks))
        self.blocks = nn.Sequential(*stage_modules)
        self.feature_stages = feature_stages
        self.feature_channels = tuple(stages[i][-1].out for i in feature_stages)

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        x = F.relu(self.bn1(self.conv_stem(images)))
        features = []
        for index, stage in enumerate(self.blocks):
            x = stage(x)
            if index in self.feature_stages:
                features.append(x)
        return features
