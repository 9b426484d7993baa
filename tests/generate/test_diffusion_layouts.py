"""Weight folders as users have them: each layout is recognised, loads, and misplaced files get advice.

Placeholder trees use the real folder and file names; checkpoint files carry real key sets (the tiny
official files, and single files written with the LDM key names the real downloads use)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from reenact.errors import AssetError
from reenact.generate.diffusion import convert_weights, load_pipeline
from reenact.generate.diffusion.layout import inspect_weights
from reenact.generate.diffusion.pipeline import load_vae
from reenact.generate.diffusion.vae import ldm_vae_key
from reenact.generate.diffusion.weights import WeightPaths, load_pth
from tests.generate._magicportrait import TINY
from tests.generate.test_diffusion_weights import OFFICIAL, make_weights_dir


def _ckpts(folder: Path, names=OFFICIAL) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).symlink_to(TINY / name)


def _sd15(folder: Path) -> None:
    """stable-diffusion-v1-5 as downloaded (the parts reenact reads)."""
    (folder / "unet").mkdir(parents=True)
    shutil.copy(TINY / "unet" / "config.json", folder / "unet" / "config.json")
    (folder / "text_encoder").mkdir()
    (folder / "text_encoder" / "config.json").write_text('{"architectures": ["CLIPTextModel"]}')
    (folder / "text_encoder" / "model.safetensors").write_bytes(b"placeholder")
    (folder / "tokenizer").mkdir()
    for name in ("vocab.json", "merges.txt"):
        (folder / "tokenizer" / name).write_text("{}")
    (folder / "model_index.json").write_text('{"_class_name": "StableDiffusionPipeline"}')


def _vae(folder: Path) -> None:
    folder.parent.mkdir(parents=True, exist_ok=True)
    folder.symlink_to(TINY / "vae", target_is_directory=True)


def _official_download(root: Path) -> Path:
    """The MagicPortrait repository as downloaded: ckpts/ + stable-diffusion-v1-5/ + sd-vae-ft-mse/."""
    _ckpts(root / "ckpts")
    _sd15(root / "stable-diffusion-v1-5")
    _vae(root / "sd-vae-ft-mse")
    return root


def _loads(weights: Path) -> None:
    pipe = load_pipeline(weights, device="cpu", prompt_embeds=torch.zeros(1, 77, 32))
    assert pipe.model.config.guidance.embedding_channels == 32 and pipe.vae.config.latent_channels == 4


@pytest.mark.parametrize("where", ["", "magicportrait", "downloads/MagicPortrait"])
def test_official_download_is_found_wherever_it_was_put(tmp_path, where):
    weights = tmp_path / "weights"
    _official_download(weights / where if where else weights)
    layout = inspect_weights(weights)
    assert layout.name == "official download" and not layout.problems and layout.complete
    assert layout.checkpoints.name == "ckpts" and layout.sd15.name == "stable-diffusion-v1-5"
    assert layout.vae.name == "sd-vae-ft-mse" and layout.tokenizer == layout.sd15 / "tokenizer"
    assert all(r.found for r in layout.rows if r.required)
    _loads(weights)


def test_reenact_folders_and_the_converted_folder_are_recognised(tmp_path):
    weights = make_weights_dir(tmp_path)
    _sd15_extras = weights / "stable-diffusion-v1-5"
    layout = inspect_weights(weights)
    assert layout.name == "reenact folders" and layout.checkpoints == weights / "magicportrait"
    assert {r.name for r in layout.rows if not r.found} == {"SD1.5 text encoder", "SD1.5 tokenizer",
                                                            "MagicPortrait checkpoints, converted"}
    convert_weights(weights, weights / "magicportrait-converted")
    layout = inspect_weights(weights)
    assert layout.name == "converted" and layout.converted and layout.official == weights / "magicportrait"
    assert not [r for r in layout.rows if r.required and r.name.startswith("MagicPortrait")]
    _loads(weights)
    assert _sd15_extras.is_dir()


# ---- single files -------------------------------------------------------------------------------------

def write_ldm_vae(path: Path, prefix: str = "") -> dict[str, torch.Tensor]:
    """The tiny VAE (re-made with GroupNorm 32, the SD value) as an LDM-keyed single file."""
    from diffusers import AutoencoderKL

    config = dict(AutoencoderKL.load_config(TINY / "vae"))
    config = {k: v for k, v in config.items() if not k.startswith("_")}
    config.update(block_out_channels=[32, 32, 64, 64], norm_num_groups=32)
    torch.manual_seed(0)
    vae = AutoencoderKL(**config)
    sd = vae.state_dict()
    ldm = {}
    for key, value in sd.items():
        new = ldm_vae_key(key, len(config["block_out_channels"]))
        if ".attn_1." in new and value.ndim == 2:
            value = value[:, :, None, None]          # LDM attention projections are 1x1 convolutions
        ldm[prefix + new] = value.contiguous()
    save_file(ldm, str(path))
    return sd


def write_sd15_single_file(path: Path, hidden: int = 64) -> torch.nn.Module:
    """An SD1.5-style single file: the text encoder under cond_stage_model.transformer. (plus a UNet key)."""
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(1)
    model = CLIPTextModel(CLIPTextConfig(vocab_size=99, hidden_size=hidden, intermediate_size=2 * hidden,
                                         num_hidden_layers=2, num_attention_heads=hidden // 64,
                                         max_position_embeddings=77, hidden_act="quick_gelu"))
    # the LDM names keep CLIP's `text_model.` level (which transformers 5 dropped from CLIPTextModel)
    sd = {"cond_stage_model.transformer." + (k if k.startswith("text_model.") else f"text_model.{k}"): v.contiguous()
          for k, v in model.state_dict().items()}
    sd["model.diffusion_model.conv_in.weight"] = torch.zeros(1)
    save_file(sd, str(path))
    return model.eval()


def test_single_file_sd15_and_vae_are_found_and_load_without_pickle(tmp_path):
    weights = tmp_path / "weights"
    _ckpts(weights / "ckpts")
    reference = write_ldm_vae(weights / "vae-ft-mse-840000-ema-pruned.safetensors")
    text_model = write_sd15_single_file(weights / "v1-5-pruned-emaonly.safetensors")
    layout = inspect_weights(weights)
    assert layout.name == "official download + single-file SD1.5 + single-file VAE"
    assert layout.vae.name == "vae-ft-mse-840000-ema-pruned.safetensors"
    assert layout.text_encoder.name == "v1-5-pruned-emaonly.safetensors" and layout.unet_config is None
    vae = load_vae(layout.vae)
    assert all(torch.equal(vae.state_dict()[k].reshape(v.shape), v) for k, v in reference.items())

    from reenact.generate.diffusion.prompt import _text_encoder_from_single_file

    loaded = _text_encoder_from_single_file(layout.text_encoder)
    ids = torch.tensor([[3, 7, 11, 98] + [98] * 73])
    with torch.no_grad():
        assert torch.allclose(loaded(ids)[0], text_model(ids)[0], atol=1e-6)
    # the UNet config falls back to the built-in SD1.5 one; the tiny checkpoints need the tiny config
    paths = WeightPaths.from_layout(layout)
    assert paths.vae == layout.vae and paths.text_encoder == layout.text_encoder


def test_ldm_vae_with_a_prefix_and_a_stray_key_is_named(tmp_path):
    write_ldm_vae(tmp_path / "model.safetensors", prefix="first_stage_model.")
    assert load_vae(tmp_path / "model.safetensors").config.latent_channels == 4
    bad = tmp_path / "vae-bad.safetensors"
    sd = write_ldm_vae(bad)
    from safetensors.torch import load_file

    ldm = load_file(str(bad))
    ldm["decoder.extra.weight"] = torch.zeros(2)
    save_file(ldm, str(bad))
    with pytest.raises(AssetError, match=r"vae-bad\.safetensors: unexpected VAE key .*extra"):
        load_vae(bad)
    assert sd


# ---- misplaced, empty, corrupt -------------------------------------------------------------------------

def test_a_release_file_in_another_folder_gets_one_line_move_advice(tmp_path):
    weights = tmp_path / "weights"
    _official_download(weights)
    (weights / "ckpts" / "denoising_unet.pth").rename(weights / "denoising_unet.pth")
    layout = inspect_weights(weights)
    assert layout.problems == (f"{weights / 'denoising_unet.pth'} is outside the checkpoint folder: move it to "
                               f"{weights / 'ckpts' / 'denoising_unet.pth'}",)
    with pytest.raises(AssetError, match=r"^misplaced weights: .*denoising_unet\.pth.*move it to .*ckpts"):
        load_pipeline(weights, device="cpu")


def test_flat_sd15_files_get_advice_naming_the_subfolder(tmp_path):
    weights = tmp_path / "weights"
    _official_download(weights)
    sd = weights / "stable-diffusion-v1-5"
    (sd / "unet" / "config.json").rename(sd / "config.json")
    (sd / "unet").rmdir()
    for name in ("vocab.json", "merges.txt"):
        (sd / "tokenizer" / name).rename(sd / name)
    (sd / "tokenizer").rmdir()
    problems = inspect_weights(weights).problems
    assert f"{sd / 'config.json'} is the UNet config: move it to {sd / 'unet' / 'config.json'}" in problems
    assert f"{sd / 'vocab.json'} belongs to the tokenizer: move it to {sd / 'tokenizer' / 'vocab.json'}" in problems
    assert all("\n" not in p for p in problems)


def test_empty_and_corrupt_files_are_named(tmp_path):
    weights = tmp_path / "weights"
    _official_download(weights)
    (weights / "ckpts" / "reference_unet.pth").unlink()
    (weights / "ckpts" / "reference_unet.pth").write_bytes(b"")
    row = {r.name: r for r in inspect_weights(weights).rows}["MagicPortrait reference unet"]
    assert not row.found and "0 bytes" in row.note
    with pytest.raises(AssetError, match=r"reference_unet\.pth is empty \(0 bytes\)"):
        load_pth(weights / "ckpts" / "reference_unet.pth")
    broken = weights / "vae-ft-mse-840000-ema-pruned.safetensors"
    broken.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    with pytest.raises(AssetError, match=r"vae-ft-mse-840000-ema-pruned\.safetensors"):
        load_vae(broken)


def test_nothing_there_lists_every_component_where_it_belongs(tmp_path):
    layout = inspect_weights(tmp_path / "absent")
    assert layout.name == "incomplete" and not layout.complete
    rows = {r.name: r for r in layout.rows}
    assert rows["MagicPortrait reference unet"].path == tmp_path / "absent" / "magicportrait" / "reference_unet.pth"
    assert rows["sd-vae-ft-mse VAE"].path == tmp_path / "absent" / "sd-vae-ft-mse"
    assert json.dumps([r.source for r in layout.rows])        # plain data for the asset registry


def test_doctor_with_weights_flag_prints_the_move_advice(tmp_path, capsys):
    from reenact.cli import main

    weights = tmp_path / "dl"
    _official_download(weights)
    (weights / "ckpts" / "guidance_encoder_render.pth").rename(weights / "guidance_encoder_render.pth")
    assert main(["doctor", "--weights", str(weights)]) == 0
    out = capsys.readouterr().out
    assert "weights layout: official download" in out and "misplaced file" in out
    assert f"move it to {weights / 'ckpts' / 'guidance_encoder_render.pth'}" in out
