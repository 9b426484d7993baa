"""Our DECA / SMIRK encoders against the official code, on random weights in the official formats.

The golden outputs (tests/fixtures/{deca,smirk}) were made by the official encoder classes
(DECA decalib.models.encoders.ResnetEncoder, SMIRK src.smirk_encoder.SmirkEncoder, timm 0.9.16)
with weights from `recipe.random_state_dict`; see tests/fixtures/deca/README.md.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from reenact.errors import AssetError
from reenact.tracking.encoders.checkpoint import (assign_state, load_deca_encoder, load_smirk_encoder,
                                                  smirk_state)
from reenact.tracking.encoders.deca import DecaCode, DecaEncoder
from reenact.tracking.encoders.preprocess import deca_input, smirk_input
from reenact.tracking.encoders.smirk import SmirkExpressionEncoder, split_head

from .recipe import (DECA_MANIFEST, FIXTURES, SMIRK_MANIFEST, fingerprint, load_manifest,
                     recipe_state, write_random_checkpoints)

FIX = FIXTURES


def _recipe(manifest_path: Path) -> dict[str, torch.Tensor]:
    state, expected = recipe_state(manifest_path)
    # a torch whose generator draws differently would make every comparison below meaningless
    assert fingerprint(state) == pytest.approx(expected, rel=1e-9)
    return state


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> tuple[Path, Path]:
    _recipe(DECA_MANIFEST), _recipe(SMIRK_MANIFEST)
    return write_random_checkpoints(tmp_path_factory.mktemp("encoders"))


@pytest.fixture(scope="module")
def deca_file(checkpoints) -> Path:
    return checkpoints[0]


@pytest.fixture(scope="module")
def smirk_file(checkpoints) -> Path:
    return checkpoints[1]


def _images(golden) -> torch.Tensor:
    return torch.from_numpy(golden["images"]).float() / 255


@pytest.mark.slow
def test_deca_encoder_reproduces_official_outputs(deca_file):
    golden = np.load(FIX / "deca" / "deca_golden.npz")
    model = load_deca_encoder(deca_file)
    with torch.no_grad():
        code = model(_images(golden)).numpy()
    assert code.shape == (3, 236)
    np.testing.assert_allclose(code, golden["code"], atol=1e-5, rtol=0)
    # the inputs differ enough that a wrong channel order or pooling could not pass
    assert np.abs(golden["code"][0] - golden["code"][2]).max() > 1e-3


def test_deca_code_layout_follows_the_official_order():
    vec = np.arange(236, dtype=np.float32)[None]
    code = DecaCode.from_vector(vec)
    assert code.shape[0, -1] == 99 and code.tex[0, 0] == 100 and code.exp[0, 0] == 150
    assert code.pose[0].tolist() == [200, 201, 202, 203, 204, 205] and code.cam[0].tolist() == [206, 207, 208]
    assert code.light.shape == (1, 9, 3) and code.light[0, 1, 2] == 209 + 3 * 1 + 2


def test_smirk_encoder_reproduces_official_outputs(smirk_file):
    golden = np.load(FIX / "smirk" / "smirk_golden.npz")      # same inputs as DECA's
    code = load_smirk_encoder(smirk_file).encode(_images(np.load(FIX / "deca" / "deca_golden.npz")))
    np.testing.assert_allclose(code.expression, golden["expression_params"], atol=1e-5, rtol=0)
    np.testing.assert_allclose(code.jaw, golden["jaw_params"], atol=1e-5, rtol=0)
    np.testing.assert_allclose(code.eyelids, golden["eyelid_params"], atol=1e-5, rtol=0)
    assert np.abs(golden["expression_params"][0] - golden["expression_params"][2]).max() > 1e-4


def test_smirk_output_rules_clamp_jaw_and_eyelids():
    raw = torch.zeros(2, 55)
    raw[0, 50:55] = torch.tensor([1.5, -0.3, -0.5, 0.3, 0.7])
    raw[1, 50:55] = torch.tensor([0.4, 0.2, 0.1, -0.1, -0.05])
    _, jaw, eyelids = split_head(raw)
    np.testing.assert_allclose(eyelids.numpy(), [[1.0, 0.0], [0.4, 0.2]], atol=1e-7)
    np.testing.assert_allclose(jaw.numpy(), [[0.0, 0.2, 0.2], [0.1, -0.1, -0.05]], atol=1e-7)


@pytest.mark.parametrize("manifest, build", [(DECA_MANIFEST, DecaEncoder), (SMIRK_MANIFEST, SmirkExpressionEncoder)])
def test_full_size_manifest_converts_completely_on_meta_device(manifest, build):
    keys = load_manifest(manifest)
    state = {k: torch.empty(shape, dtype=getattr(torch, dtype), device="meta") for k, (shape, dtype) in keys.items()}
    if build is SmirkExpressionEncoder:
        state = smirk_state(state, manifest.name)
    with torch.device("meta"):
        model = build()
    assign_state(model, state, manifest.name)
    assert all(p.is_meta for p in model.parameters())
    assert len(model.state_dict()) == len(state) > 200


def test_wrong_checkpoint_keys_name_the_file_and_the_key(tmp_path):
    keys = load_manifest(DECA_MANIFEST)
    state = {k: torch.zeros(shape, dtype=getattr(torch, dtype)) for k, (shape, dtype) in keys.items()}
    missing = dict(state)
    del missing["layers.2.bias"]
    path = tmp_path / "deca_model.tar"
    torch.save({"E_flame": missing}, path)
    with pytest.raises(AssetError, match=r"deca_model\.tar.*missing key 'layers\.2\.bias'"):
        load_deca_encoder(path)
    # the same checks, in memory (saving 100 MB per case is slow); the label is what names the file
    with pytest.raises(AssetError, match=r"deca_model\.tar.*unknown key 'layers\.3\.weight'"):
        assign_state(DecaEncoder(), {**state, "layers.3.weight": torch.zeros(1)}, str(path))
    with pytest.raises(AssetError, match=r"layers\.2\.bias.*shape \(5,\)"):
        assign_state(DecaEncoder(), {**state, "layers.2.bias": torch.zeros(5)}, str(path))
    torch.save({"state_dict": {}}, path)
    with pytest.raises(AssetError, match="no 'E_flame' entry"):
        load_deca_encoder(path)
    smirk = tmp_path / "SMIRK_em1.pt"
    torch.save({"smirk_encoder.expression_encoder.bogus": torch.zeros(1)}, smirk)
    with pytest.raises(AssetError, match=r"SMIRK_em1\.pt.*unknown key 'bogus'"):
        load_smirk_encoder(smirk)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(AssetError, match="junk.pt"):
        load_smirk_encoder(tmp_path / "junk.pt")


def test_crops_follow_the_official_rules():
    golden = np.load(FIX / "deca" / "crop_golden.npz")
    crop, transform = deca_input(golden["image"], golden["kpt68"])
    np.testing.assert_allclose(transform, golden["deca_T"], atol=1e-9)
    np.testing.assert_allclose(crop.permute(1, 2, 0).numpy()[::4, ::4], golden["deca_crop"], atol=1e-5)
    crop, transform = smirk_input(golden["image"], golden["pts478"])
    np.testing.assert_allclose(transform, golden["smirk_T"], atol=1e-9)
    diff = np.abs(crop.permute(1, 2, 0).numpy()[::4, ::4] * 255 - golden["smirk_crop"])
    # official: float warp truncated to uint8; a value on an integer boundary may round either way
    assert diff.max() <= 1.0 + 1e-4 and (diff > 0.5).mean() < 0.005
