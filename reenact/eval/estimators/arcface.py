"""ArcFace identity embeddings from an insightface arcface_torch iResNet state dict (user-supplied).

The network (Deng et al. 2019; iResNet of Duta et al. 2020) is rebuilt here in the layout of
arcface_torch's `backbone.pth`, so its keys load as they are; the depth (iResNet-18/34/50/100/200)
is read off the keys. Faces are aligned to the standard 112x112 five-point ArcFace template.
"""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

from ...errors import AssetError
from ..weights import describe
from .lpips import _state_dict

# Eye centres, nose tip and mouth corners of the 112x112 ArcFace crop (image left to right).
TEMPLATE_112 = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                         [41.5493, 92.3655], [70.7299, 92.2041]])
WIDTHS = (64, 128, 256, 512)


def _conv3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)


class IBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin, eps=1e-5)
        self.conv1 = _conv3(cin, cout)
        self.bn2 = nn.BatchNorm2d(cout, eps=1e-5)
        self.prelu = nn.PReLU(cout)
        self.conv2 = _conv3(cout, cout, stride)
        self.bn3 = nn.BatchNorm2d(cout, eps=1e-5)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False),
                                            nn.BatchNorm2d(cout, eps=1e-5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn3(self.conv2(self.prelu(self.bn2(self.conv1(self.bn1(x))))))
        return out + (x if self.downsample is None else self.downsample(x))


class IResNet(nn.Module):
    def __init__(self, blocks: tuple[int, int, int, int], embedding: int = 512):
        super().__init__()
        self.conv1 = _conv3(3, 64)
        self.bn1 = nn.BatchNorm2d(64, eps=1e-5)
        self.prelu = nn.PReLU(64)
        cin = 64
        for i, (width, n) in enumerate(zip(WIDTHS, blocks), start=1):
            layers = [IBlock(cin, width, 2)] + [IBlock(width, width, 1) for _ in range(n - 1)]
            setattr(self, f"layer{i}", nn.Sequential(*layers))
            cin = width
        self.bn2 = nn.BatchNorm2d(512, eps=1e-5)
        self.fc = nn.Linear(512 * 7 * 7, embedding)
        self.features = nn.BatchNorm1d(embedding, eps=1e-5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.prelu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.features(self.fc(torch.flatten(self.bn2(x), 1)))


def blocks_in(state: dict[str, torch.Tensor]) -> tuple[int, int, int, int]:
    """Blocks per stage, from keys such as `layer3.29.conv1.weight`."""
    counts = [0, 0, 0, 0]
    for key in state:
        m = re.match(r"layer([1-4])\.(\d+)\.", key)
        if m:
            stage, idx = int(m.group(1)) - 1, int(m.group(2))
            counts[stage] = max(counts[stage], idx + 1)
    if min(counts) == 0:
        raise AssetError("the ArcFace file has no iResNet layer1..layer4 blocks; use arcface_torch's backbone.pth")
    return tuple(counts)  # type: ignore[return-value]


def five_points(landmarks68: np.ndarray) -> np.ndarray:
    """Eye centres, nose tip and mouth corners from dlib-ordered 68 landmarks, image left to right."""
    p = np.asarray(landmarks68, np.float64)[:, :2]
    return np.stack([p[36:42].mean(0), p[42:48].mean(0), p[30], p[48], p[54]])


def align_112(frame: np.ndarray, points5: np.ndarray) -> np.ndarray:
    """The 112x112 ArcFace crop: a similarity taking the five points onto the template."""
    m, _ = cv2.estimateAffinePartial2D(np.asarray(points5, np.float32), TEMPLATE_112.astype(np.float32),
                                       method=cv2.LMEDS)
    if m is None:
        raise ValueError("degenerate face points")
    return cv2.warpAffine(np.ascontiguousarray(frame), m, (112, 112), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)


class ArcFace:
    name = "ArcFace iResNet"

    def __init__(self, path: Path, device: str = "cpu"):
        state = {k: v.float() for k, v in _state_dict(path).items()}
        blocks = blocks_in(state)
        embedding = state["fc.weight"].shape[0] if "fc.weight" in state else 512
        net = IResNet(blocks, embedding)
        try:
            net.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()[0]
            raise AssetError(f"{path.name} does not fit an arcface_torch iResNet: {first}") from None
        self.net = net.eval().to(device)
        self.device = device
        depth = {(2, 2, 2, 2): 18, (3, 4, 6, 3): 34, (3, 4, 14, 3): 50, (3, 13, 30, 3): 100, (6, 26, 60, 6): 200}
        self.name = f"ArcFace iResNet-{depth.get(blocks, sum(blocks))}"
        self.version = describe(path)

    @torch.no_grad()
    def embed(self, frame: np.ndarray, landmarks68: np.ndarray) -> np.ndarray:
        crop = align_112(frame, five_points(landmarks68))
        x = torch.from_numpy(crop).to(self.device, torch.float32).permute(2, 0, 1)[None]
        return self.net((x / 255.0 - 0.5) / 0.5)[0].cpu().numpy().astype(np.float64)
