"""Our timm-free MobileNetV3 trunk: timm's feature list and TensorFlow "SAME" padding.

Equality with the official SMIRK outputs is in test_encoders.py; these pin down the two facts a
wrong rebuild would most likely get wrong, on inputs where they show.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from reenact.tracking.encoders.mobilenetv3 import MobileNetV3Features, SameConv2d

SMIRK_MANIFEST = Path(__file__).resolve().parents[2] / "fixtures" / "smirk" / "smirk_encoder_manifest.json"
TRUNK = "smirk_encoder.expression_encoder.encoder."


def test_state_dict_equals_timms_keys_shapes_and_order():
    keys = json.loads(SMIRK_MANIFEST.read_text())["keys"]
    wanted = [(k[len(TRUNK):], tuple(shape), dtype) for k, (shape, dtype) in keys.items() if k.startswith(TRUNK)]
    with torch.device("meta"):
        state = MobileNetV3Features().state_dict()
    ours = [(k, tuple(v.shape), str(v.dtype).removeprefix("torch.")) for k, v in state.items()]
    assert ours == wanted and len(ours) == 276


def test_features_are_timms_five_levels_with_ceil_sizes():
    model = MobileNetV3Features().eval()
    with torch.no_grad():
        even = model(torch.rand(1, 3, 224, 224))
        odd = model(torch.rand(1, 3, 225, 97))
    assert model.feature_channels == (16, 24, 40, 112, 960)
    assert [tuple(f.shape[1:]) for f in even] == [(16, 112, 112), (24, 56, 56), (40, 28, 28), (112, 14, 14), (960, 7, 7)]
    # "SAME" keeps ceil(size / stride): 225 -> 113 -> 57 -> 29 -> 15 -> 8, 97 -> 49 -> 25 -> 13 -> 7 -> 4
    assert [tuple(f.shape[2:]) for f in odd] == [(113, 49), (57, 25), (29, 13), (15, 7), (8, 4)]


def test_stride_two_same_padding_puts_the_odd_pixel_after_the_image():
    conv = SameConv2d(1, 1, 3, stride=2)
    with torch.no_grad():
        conv.weight.fill_(1.0)
        out = conv(torch.ones(1, 1, 4, 4))[0, 0].numpy()
    # rows/cols 0-2 are all inside; the last window covers rows/cols 2-4, 4 being padding
    # (PyTorch's symmetric padding=1 would give [[4, 6], [6, 9]])
    np.testing.assert_array_equal(out, [[9, 6], [6, 4]])
    stride_one = SameConv2d(1, 1, 3)
    assert stride_one.padding == (1, 1) and stride_one(torch.ones(1, 1, 5, 6)).shape[-2:] == (5, 6)
