"""Finding, checking, converting and loading the MagicPortrait weight files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from reenact.errors import AssetError, OutputError
from reenact.generate.diffusion import (WeightPaths, check_weights, convert_weights,
                                        load_checkpoints, load_pipeline)
from reenact.generate.diffusion import keys
from reenact.generate.diffusion.weights import MODEL_PARTS, load_pth
from tests.generate._magicportrait import TINY, case, tiny_checkpoints

OFFICIAL = ["reference_unet.pth", "denoising_unet.pth", "motion_module.pth", "guidance_encoder_depth.pth",
            "guidance_encoder_normal.pth", "guidance_encoder_render.pth"]


class NotATensor:
    """Pickled by reference; a weights-only load must refuse it."""


def make_weights_dir(root: Path, files: dict[str, Path] | None = None) -> Path:
    """root/weights laid out as the docs say, with links to the tiny official files."""
    weights = root / "weights"
    mp = weights / "magicportrait"
    mp.mkdir(parents=True)
    for name, target in (files if files is not None else {n: TINY / n for n in OFFICIAL}).items():
        (mp / name).symlink_to(target)
    (weights / "stable-diffusion-v1-5" / "unet").mkdir(parents=True)
    shutil.copy(TINY / "unet" / "config.json", weights / "stable-diffusion-v1-5" / "unet" / "config.json")
    (weights / "sd-vae-ft-mse").symlink_to(TINY / "vae", target_is_directory=True)
    return weights


def test_convert_writes_safetensors_that_load_to_the_same_tensors(tmp_path):
    weights = make_weights_dir(tmp_path)
    out = convert_weights(weights, weights / "magicportrait-converted")
    assert sorted(p.name for p in out.iterdir()) == sorted([f"{p}.safetensors" for p in MODEL_PARTS] +
                                                           ["magicportrait.json"])
    manifest = json.loads((out / "magicportrait.json").read_text())
    assert len(manifest["ignored_keys"]["guidance_encoder_depth"]) == 114     # unused encoder blocks (Q3)
    assert len(manifest["ignored_keys"]["denoising_unet"]) == 21              # duplicate position tables

    converted, official = load_checkpoints(out), tiny_checkpoints()
    assert converted.config == official.config
    for part in MODEL_PARTS:
        assert converted.parts[part].keys() == official.parts[part].keys()
        assert all(torch.equal(converted.parts[part][k], official.parts[part][k]) for k in official.parts[part])
    # the weights dir now resolves to the converted copy, which needs no SD folder and no pickle
    assert WeightPaths.from_weights_dir(weights).checkpoints == out


@pytest.mark.slow
def test_load_pipeline_from_a_weights_dir_runs_the_official_forward(tmp_path):
    weights = make_weights_dir(tmp_path)
    pipe = load_pipeline(weights, device="cpu", prompt_embeds=torch.zeros(1, 77, 32))
    fc = case("forward_case")
    i = fc["inputs"]
    with torch.no_grad():
        pred = pipe.model(i["noisy_latents"], i["timesteps"], i["ref_image_latents"],
                          i["multi_guidance_cond_uint8"].float() / 255, i["text_embeds"])
    assert (pred - fc["outputs"]["model_pred"]).abs().max().item() < 1e-5


def test_convert_never_overwrites_or_writes_into_its_source(tmp_path):
    weights = make_weights_dir(tmp_path)
    (tmp_path / "taken").mkdir()
    with pytest.raises(OutputError, match="already exists"):
        convert_weights(weights, tmp_path / "taken")
    with pytest.raises(OutputError, match="must not be"):
        convert_weights(weights / "magicportrait", weights / "magicportrait" / "converted",
                        sd15_dir=weights / "stable-diffusion-v1-5")
    assert sorted(p.name for p in (weights / "magicportrait").iterdir()) == sorted(OFFICIAL)


def test_convert_can_store_half_precision(tmp_path):
    weights = make_weights_dir(tmp_path)
    out = convert_weights(weights, tmp_path / "fp16", dtype=torch.float16)
    sd = load_checkpoints(out).parts["guidance_encoder_depth"]
    assert {v.dtype for v in sd.values()} == {torch.float16}
    ref = tiny_checkpoints().parts["guidance_encoder_depth"]
    assert all(torch.equal(sd[k], ref[k].half()) for k in ref)


def test_missing_official_file_is_named_with_where_to_get_it(tmp_path):
    files = {n: TINY / n for n in OFFICIAL if n != "guidance_encoder_normal.pth"}
    weights = make_weights_dir(tmp_path, files)
    with pytest.raises(AssetError, match=r"guidance_encoder_normal\.pth.*huggingface\.co/mengtingwei/MagicPortrait"):
        load_pipeline(weights, device="cpu")


def test_missing_vae_is_named_with_where_to_get_it(tmp_path):
    weights = make_weights_dir(tmp_path)
    (weights / "sd-vae-ft-mse").unlink()
    with pytest.raises(AssetError, match=r"sd-vae-ft-mse.*huggingface\.co/stabilityai/sd-vae-ft-mse"):
        load_pipeline(weights, device="cpu")


def test_missing_motion_module_is_an_error_naming_it(tmp_path):
    weights = make_weights_dir(tmp_path, {n: TINY / n for n in OFFICIAL if n != "motion_module.pth"})
    with pytest.raises(AssetError, match=r"denoising_unet\.pth: missing key .*motion_modules.*motion_module"):
        load_checkpoints(weights / "magicportrait", weights / "stable-diffusion-v1-5")


def test_two_motion_module_files_are_ambiguous(tmp_path):
    weights = make_weights_dir(tmp_path, {**{n: TINY / n for n in OFFICIAL},
                                          "motion_module-47360.pth": TINY / "motion_module.pth"})
    with pytest.raises(AssetError, match="several motion-module files"):
        load_checkpoints(weights / "magicportrait", weights / "stable-diffusion-v1-5")


def test_a_file_in_the_wrong_place_is_named_with_the_offending_key(tmp_path):
    weights = make_weights_dir(tmp_path, {**{n: TINY / n for n in OFFICIAL},
                                          "reference_unet.pth": TINY / "guidance_encoder_depth.pth"})
    with pytest.raises(AssetError, match=r"reference_unet\.pth: (unexpected )?key 'conv_in\.weight'|"
                                         r"reference_unet\.pth: unexpected key"):
        load_checkpoints(weights / "magicportrait", weights / "stable-diffusion-v1-5")


def _write(tmp_path: Path, name: str, sd: dict) -> Path:
    path = tmp_path / name
    torch.save(sd, path)
    return path


def test_unexpected_missing_and_misshapen_keys_are_errors_naming_file_and_key(tmp_path):
    ref = load_pth(TINY / "reference_unet.pth")
    shapes = {k: tuple(v.shape) for k, v in tiny_checkpoints().parts["reference_unet"].items()}
    with pytest.raises(AssetError, match=r"reference_unet\.pth: unexpected key 'extra\.weight'"):
        keys.convert_reference_unet({**ref, "extra.weight": torch.zeros(1)}, shapes)
    with pytest.raises(AssetError, match=r"reference_unet\.pth: missing key 'conv_in\.bias'"):
        keys.convert_reference_unet({k: v for k, v in ref.items() if k != "conv_in.bias"}, shapes)
    with pytest.raises(AssetError, match=r"key 'conv_in\.bias' has shape \(3,\)"):
        keys.convert_reference_unet({**ref, "conv_in.bias": torch.zeros(3)}, shapes)
    # the SD output head is the one deliberate omission of the reference UNet (Q4)
    with_head = {**ref, "conv_out.weight": torch.zeros(4, 32, 3, 3), "conv_out.bias": torch.zeros(4)}
    assert set(keys.convert_reference_unet(with_head, shapes).ignored) == {"conv_out.weight", "conv_out.bias"}


def test_unsafe_or_corrupt_checkpoints_are_refused_without_running_code(tmp_path):
    pickled = _write(tmp_path, "reference_unet.pth", {"conv_in.weight": NotATensor()})
    with pytest.raises(AssetError, match=r"reference_unet\.pth.*weights-only"):
        load_pth(pickled)
    garbage = tmp_path / "denoising_unet.pth"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(AssetError, match=r"denoising_unet\.pth"):
        load_pth(garbage)
    nested = _write(tmp_path, "nested.pth", {"state_dict": {"a": torch.zeros(1)}})
    with pytest.raises(AssetError, match="not a plain state dict"):
        load_pth(nested)


def test_motion_keys_in_both_files_follow_the_official_precedence_unless_told_otherwise():
    stage1, motion = load_pth(TINY / "denoising_unet.pth"), load_pth(TINY / "motion_module.pth")
    key = "down_blocks.0.motion_modules.0.temporal_transformer.proj_out.bias"
    internal = "down_blocks.0.motion_modules.0.proj_out.bias"
    changed = {**stage1, key: motion[key] + 1.0}
    shapes = {k: tuple(v.shape) for k, v in tiny_checkpoints().parts["denoising_unet"].items()}
    official = keys.convert_denoising_unet(changed, motion, shapes).state_dict
    assert torch.equal(official[internal], motion[key] + 1.0)       # denoising_unet.pth is applied last
    other = keys.convert_denoising_unet(changed, motion, shapes, motion_precedence="motion_module").state_dict
    assert torch.equal(other[internal], motion[key])


def test_check_weights_reports_every_file_with_path_and_source(tmp_path):
    empty = check_weights(tmp_path / "nothing")
    required = [s for s in empty if s.required]
    assert len(required) >= 9 and not any(s.found for s in empty)
    assert all(s.source.startswith(("https://", "`reenact")) for s in empty)
    assert any(s.path.name == "guidance_encoder_render.pth" for s in empty)

    weights = make_weights_dir(tmp_path)
    status = {s.name: s for s in check_weights(weights)}
    for name in ("MagicPortrait reference unet", "MagicPortrait motion module", "MagicPortrait depth guidance encoder",
                 "SD1.5 UNet config", "sd-vae-ft-mse VAE"):
        assert status[name].found, name
    assert not status["SD1.5 text encoder"].found          # not in the fixtures: reported missing
    assert status["MagicPortrait motion module"].path.name == "motion_module.pth"


def test_diffusion_is_ready_only_when_every_required_file_is_there(tmp_path):
    from reenact.config import load_config
    from reenact.inventory import Inventory

    def problem(weights_dir):
        cfg = load_config(overrides=[f"paths.weights_dir={weights_dir}", f"paths.cache_dir={tmp_path / 'cache'}"])
        return Inventory(cfg).diffusion_problem()

    assert problem(tmp_path / "nothing") is not None
    weights = make_weights_dir(tmp_path)
    assert "text encoder" in problem(weights)                   # no text encoder / tokenizer yet
    sd15 = weights / "stable-diffusion-v1-5"
    for rel in ("text_encoder/config.json", "text_encoder/model.safetensors", "tokenizer/vocab.json",
                "tokenizer/merges.txt"):
        (sd15 / rel).parent.mkdir(exist_ok=True)
        (sd15 / rel).write_text("{}")
    assert problem(weights) is None
