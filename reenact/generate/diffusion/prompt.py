"""The fixed prompt's CLIP embedding, computed once and cached on disk.

The official script embeds "A close up of a person." with the SD1.5 text encoder (tokens padded to
the tokenizer's max length, last hidden state, no attention mask) and uses it for both CFG halves.
Caching it means the 123M-parameter text encoder is loaded once per machine, not per video.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from ...errors import AssetError
from .config import PROMPT

_memory: dict[str, torch.Tensor] = {}


def _locations(sd15_dir: Path | None, text_encoder: Path | None, tokenizer: Path | None) -> tuple[Path, Path]:
    base = Path(sd15_dir) if sd15_dir is not None else Path(".")
    return (Path(text_encoder) if text_encoder is not None else base / "text_encoder",
            Path(tokenizer) if tokenizer is not None else base / "tokenizer")


def _cache_key(sd15_dir: Path | None, prompt: str, text_encoder: Path | None = None,
               tokenizer: Path | None = None) -> str:
    """Changes when the prompt or the text-encoder/tokenizer files change (name, size, mtime)."""
    h = hashlib.sha256(prompt.encode())
    for sub, where in zip(("text_encoder", "tokenizer"), _locations(sd15_dir, text_encoder, tokenizer)):
        files = [where] if where.is_file() else sorted(where.iterdir()) if where.is_dir() else []
        for f in files:
            if f.is_file():
                st = f.stat()
                h.update(json.dumps([sub, f.name, st.st_size, st.st_mtime_ns]).encode())
    return h.hexdigest()[:24]


def _text_encoder_from_single_file(path: Path):
    """CLIPTextModel from an SD1.5 single-file checkpoint; its size is read from the tensor shapes."""
    from diffusers.loaders.single_file_utils import convert_ldm_clip_checkpoint
    from transformers import CLIPTextConfig, CLIPTextModel

    from .weights import load_single_file

    # LDM names are `text_model.*`; transformers 5 dropped that level from CLIPTextModel
    sd = {k.removeprefix("text_model."): v for k, v in convert_ldm_clip_checkpoint(load_single_file(path)).items()}
    sd.pop("embeddings.position_ids", None)       # a buffer older files carry
    try:
        vocab, hidden = sd["embeddings.token_embedding.weight"].shape
        config = CLIPTextConfig(
            vocab_size=vocab, hidden_size=hidden, num_attention_heads=max(1, hidden // 64),
            intermediate_size=sd["encoder.layers.0.mlp.fc1.weight"].shape[0],
            num_hidden_layers=len({k.split(".")[2] for k in sd if k.startswith("encoder.layers.")}),
            max_position_embeddings=sd["embeddings.position_embedding.weight"].shape[0],
            hidden_act="quick_gelu", projection_dim=hidden)
    except KeyError as exc:
        raise AssetError(f"{path}: no CLIP text encoder (missing key {exc}); expected a Stable Diffusion 1.5 "
                         "checkpoint such as v1-5-pruned-emaonly.safetensors") from None
    with torch.device("meta"):
        model = CLIPTextModel(config)
    nested = "text_model." if hasattr(model, "text_model") else ""      # transformers < 5
    sd = {nested + k: v for k, v in sd.items()}
    expected = model.state_dict()
    for key, tensor in sd.items():
        if key not in expected or expected[key].shape != tensor.shape:
            raise AssetError(f"{path}: unexpected text-encoder key {key!r}; expected Stable Diffusion 1.5")
    missing = [k for k in expected if k not in sd and not k.endswith("position_ids")]
    if missing:
        raise AssetError(f"{path}: missing text-encoder key {missing[0]!r}; the file is incomplete")
    model.load_state_dict(sd, strict=False, assign=True)
    embeddings = getattr(model, "text_model", model).embeddings
    if hasattr(embeddings, "position_ids"):
        embeddings.register_buffer("position_ids", torch.arange(config.max_position_embeddings)[None],
                                   persistent=False)
    return model


def encode_prompt(sd15_dir: str | Path | None, prompt: str = PROMPT, device: torch.device | str = "cpu", *,
                  text_encoder: Path | None = None, tokenizer: Path | None = None) -> torch.Tensor:
    """(1, 77, 768) for SD1.5; loads the tokenizer and the text encoder (folder or SD1.5 single file)."""
    from transformers import CLIPTextModel, CLIPTokenizer

    te_path, tok_path = _locations(sd15_dir, text_encoder, tokenizer)
    try:
        tok = CLIPTokenizer.from_pretrained(tok_path)
        model = (_text_encoder_from_single_file(te_path) if te_path.is_file()
                 else CLIPTextModel.from_pretrained(te_path)).to(device).eval()
    except (OSError, ValueError) as exc:
        raise AssetError(f"cannot load the SD1.5 tokenizer/text encoder from {te_path} and {tok_path} "
                         f"({str(exc).splitlines()[0]}); download text_encoder/ and tokenizer/ of "
                         "stable-diffusion-v1-5 there") from None
    ids = tok([prompt], max_length=tok.model_max_length, padding="max_length", truncation=True,
              return_tensors="pt").input_ids
    with torch.no_grad():
        return model(ids.to(device))[0].float().cpu()


def prompt_embedding(sd15_dir: str | Path | None, cache_dir: str | Path | None = None, prompt: str = PROMPT, *,
                     text_encoder: Path | None = None, tokenizer: Path | None = None) -> torch.Tensor:
    """The cached embedding (float32, CPU); computed with `encode_prompt` on a miss."""
    key = _cache_key(sd15_dir, prompt, text_encoder, tokenizer)
    if key in _memory:
        return _memory[key]
    path = Path(cache_dir) / f"prompt-{key}.safetensors" if cache_dir is not None else None
    if path is not None and path.is_file():
        try:
            emb = load_file(str(path))["prompt_embeds"]
        except Exception:          # a damaged cache file is recomputed, not fatal
            emb = None
        if emb is not None:
            _memory[key] = emb
            return emb
    emb = encode_prompt(sd15_dir, prompt, text_encoder=text_encoder, tokenizer=tokenizer)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        save_file({"prompt_embeds": emb.contiguous()}, str(tmp), metadata={"prompt": prompt})
        tmp.replace(path)
    _memory[key] = emb
    return emb


def prompt_cached(sd15_dir: str | Path | None, cache_dir: str | Path | None, prompt: str = PROMPT, *,
                  text_encoder: Path | None = None, tokenizer: Path | None = None) -> bool:
    """Whether the prompt embedding is already cached, so the text encoder need not be present."""
    if cache_dir is None:
        return False
    key = _cache_key(sd15_dir, prompt, text_encoder, tokenizer)
    return (Path(cache_dir) / f"prompt-{key}.safetensors").is_file()
