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


def _cache_key(sd15_dir: Path, prompt: str) -> str:
    """Changes when the prompt or the text-encoder/tokenizer files change (name, size, mtime)."""
    h = hashlib.sha256(prompt.encode())
    for sub in ("text_encoder", "tokenizer"):
        folder = sd15_dir / sub
        for f in sorted(folder.iterdir()) if folder.is_dir() else ():
            if f.is_file():
                st = f.stat()
                h.update(json.dumps([sub, f.name, st.st_size, st.st_mtime_ns]).encode())
    return h.hexdigest()[:24]


def encode_prompt(sd15_dir: str | Path, prompt: str = PROMPT, device: torch.device | str = "cpu") -> torch.Tensor:
    """(1, 77, 768) for SD1.5; loads the tokenizer and text encoder from `sd15_dir`."""
    from transformers import CLIPTextModel, CLIPTokenizer

    sd15_dir = Path(sd15_dir)
    try:
        tokenizer = CLIPTokenizer.from_pretrained(sd15_dir / "tokenizer")
        text_encoder = CLIPTextModel.from_pretrained(sd15_dir / "text_encoder").to(device).eval()
    except (OSError, ValueError) as exc:
        raise AssetError(f"cannot load the SD1.5 tokenizer/text encoder from {sd15_dir} "
                         f"({str(exc).splitlines()[0]}); download text_encoder/ and tokenizer/ of "
                         "stable-diffusion-v1-5 there") from None
    ids = tokenizer([prompt], max_length=tokenizer.model_max_length, padding="max_length", truncation=True,
                    return_tensors="pt").input_ids
    with torch.no_grad():
        return text_encoder(ids.to(device))[0].float().cpu()


def prompt_embedding(sd15_dir: str | Path, cache_dir: str | Path | None = None,
                     prompt: str = PROMPT) -> torch.Tensor:
    """The cached embedding (float32, CPU); computed with `encode_prompt` on a miss."""
    sd15_dir = Path(sd15_dir)
    key = _cache_key(sd15_dir, prompt)
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
    emb = encode_prompt(sd15_dir, prompt)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        save_file({"prompt_embeds": emb.contiguous()}, str(tmp), metadata={"prompt": prompt})
        tmp.replace(path)
    _memory[key] = emb
    return emb


def prompt_cached(sd15_dir: str | Path, cache_dir: str | Path | None, prompt: str = PROMPT) -> bool:
    """Whether the prompt embedding is already cached, so the text encoder need not be present."""
    if cache_dir is None:
        return False
    return (Path(cache_dir) / f"prompt-{_cache_key(Path(sd15_dir), prompt)}.safetensors").is_file()
