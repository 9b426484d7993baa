"""The fixed prompt is embedded once with the SD1.5 text encoder and then served from a cache."""

from __future__ import annotations

import json
import string
from pathlib import Path

import pytest
import torch

from reenact.errors import AssetError
from reenact.generate.diffusion import prompt as prompt_mod
from reenact.generate.diffusion.config import PROMPT


@pytest.fixture(scope="module")
def sd15_dir(tmp_path_factory) -> Path:
    """A stand-in SD1.5 folder: character-level CLIP tokenizer and a tiny random CLIP text encoder."""
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    root = tmp_path_factory.mktemp("sd15")
    (root / "tokenizer").mkdir()
    chars = sorted(set(string.ascii_lowercase + string.digits + ".,!?'"))
    vocab = {c: i for i, c in enumerate(chars)}
    vocab.update({c + "</w>": len(chars) + i for i, c in enumerate(chars)})
    vocab.update({"<|startoftext|>": len(vocab), "<|endoftext|>": len(vocab) + 1})
    (root / "tokenizer" / "vocab.json").write_text(json.dumps(vocab))
    (root / "tokenizer" / "merges.txt").write_text("#version: 0.2\n")
    CLIPTokenizer(str(root / "tokenizer" / "vocab.json"), str(root / "tokenizer" / "merges.txt"),
                  model_max_length=77).save_pretrained(root / "tokenizer")
    torch.manual_seed(0)
    config = CLIPTextConfig(vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                            num_attention_heads=4, max_position_embeddings=77,
                            bos_token_id=vocab["<|startoftext|>"], eos_token_id=vocab["<|endoftext|>"],
                            pad_token_id=vocab["<|endoftext|>"])
    CLIPTextModel(config).save_pretrained(root / "text_encoder")
    return root


def test_prompt_embedding_is_the_text_encoders_last_hidden_state(sd15_dir):
    from transformers import CLIPTextModel, CLIPTokenizer

    emb = prompt_mod.encode_prompt(sd15_dir)
    tok = CLIPTokenizer.from_pretrained(sd15_dir / "tokenizer")
    ids = tok([PROMPT], max_length=77, padding="max_length", truncation=True, return_tensors="pt").input_ids
    with torch.no_grad():
        expected = CLIPTextModel.from_pretrained(sd15_dir / "text_encoder")(ids)[0]
    assert emb.shape == (1, 77, 32) and torch.equal(emb, expected)


def test_prompt_embedding_is_computed_once_then_read_from_the_cache(sd15_dir, tmp_path, monkeypatch):
    prompt_mod._memory.clear()
    first = prompt_mod.prompt_embedding(sd15_dir, tmp_path)
    assert len(list(tmp_path.glob("prompt-*.safetensors"))) == 1

    def no_text_encoder(*args, **kwargs):
        raise AssertionError("text encoder loaded again")

    monkeypatch.setattr(prompt_mod, "encode_prompt", no_text_encoder)
    prompt_mod._memory.clear()                          # a new process: only the disk cache is left
    assert torch.equal(prompt_mod.prompt_embedding(sd15_dir, tmp_path), first)
    with pytest.raises(AssertionError, match="loaded again"):    # another prompt is another cache entry
        prompt_mod.prompt_embedding(sd15_dir, tmp_path, prompt="a different prompt")


def test_missing_text_encoder_is_an_asset_error(tmp_path):
    prompt_mod._memory.clear()
    with pytest.raises(AssetError, match="text_encoder/ and tokenizer/"):
        prompt_mod.prompt_embedding(tmp_path / "no-sd15", tmp_path / "cache")
