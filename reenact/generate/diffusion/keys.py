"""Official checkpoint keys -> this package's module keys, with every key accounted for.

Pure functions over {key: tensor} mappings (meta tensors work too, so the full-size key set can be
checked without weights). Each converter returns the converted state dict and the official keys it
deliberately ignored, with the reason; a key that is neither used nor on the ignore list, a missing
key or a wrong shape is an AssetError naming the file and the official key.

Renames:
* UNets: none for the 2D layers (both UNets keep the SD1.5 diffusers names).
* Motion modules: the official AnimateDiff names map onto diffusers' BasicTransformerBlock:
  `temporal_transformer.` is dropped, `attention_blocks.{0,1}` -> `attn{1,2}`, `norms.{0,1}` ->
  `norm{1,2}`, `ff_norm` -> `norm3`, and the two identical `pos_encoder.pe` buffers of a block become
  its single `pos_embed.pe` (the second is checked equal, then ignored).
* Guidance encoder: `attentions.<last>` -> `attention`; the other attention blocks and
  `guidance_attention` are ignored (never used by the official forward, Q3).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Mapping

import torch

from ...errors import AssetError

Shapes = Mapping[str, tuple[int, ...]]
MissingHint = Callable[[str], tuple[str, str, str]]    # internal key -> (file, official key, advice)

# (official, internal) fragments after the "motion_modules.<n>.temporal_transformer." prefix
_MOTION_RENAMES = [
    (".attention_blocks.0.pos_encoder.pe", ".pos_embed.pe"),
    (".attention_blocks.0.", ".attn1."),
    (".attention_blocks.1.", ".attn2."),
    (".norms.0.", ".norm1."),
    (".norms.1.", ".norm2."),
    (".ff_norm.", ".norm3."),
]
_MOTION_PREFIX = re.compile(r"^(.*\.motion_modules\.\d+\.)(temporal_transformer\.)?(.*)$")
_SECOND_PE = re.compile(r"\.attention_blocks\.1\.pos_encoder\.pe$")

REFERENCE_UNET_IGNORED = {
    "conv_norm_out.weight": "the reference UNet has no output head (Q4)",
    "conv_norm_out.bias": "the reference UNet has no output head (Q4)",
    "conv_out.weight": "the reference UNet has no output head (Q4)",
    "conv_out.bias": "the reference UNet has no output head (Q4)",
}


@dataclass
class Converted:
    state_dict: dict[str, torch.Tensor]
    ignored: dict[str, str] = field(default_factory=dict)     # official key -> why it is not used


def is_motion_key(key: str) -> bool:
    return ".motion_modules." in key


def motion_key_to_internal(key: str) -> str | None:
    """None for the duplicate position-encoding buffer of the second temporal attention."""
    if _SECOND_PE.search(key):
        return None
    m = _MOTION_PREFIX.match(key)
    if m is None or m.group(2) is None:
        return key                  # unknown layout: reported as an unexpected key
    rest = "." + m.group(3)
    for old, new in _MOTION_RENAMES:
        rest = rest.replace(old, new)
    return m.group(1) + rest[1:]


def motion_key_to_official(key: str) -> str:
    m = _MOTION_PREFIX.match(key)
    if m is None:
        return key
    rest = "." + m.group(3)
    for old, new in _MOTION_RENAMES:
        rest = rest.replace(new, old)
    return m.group(1) + "temporal_transformer" + rest


def _finish(converted: dict[str, tuple[torch.Tensor, str, str]], expected: Shapes,
            missing_hint: MissingHint) -> dict[str, torch.Tensor]:
    """converted: internal key -> (tensor, source file, official key). Checks against expected shapes."""
    out = {}
    for key, (tensor, source, official) in converted.items():
        if key not in expected:
            raise AssetError(f"{source}: unexpected key {official!r}; this is not a MagicPortrait checkpoint "
                             "of the expected kind (or the wrong file sits under this name)")
        if tuple(tensor.shape) != tuple(expected[key]):
            raise AssetError(f"{source}: key {official!r} has shape {tuple(tensor.shape)}, the model expects "
                             f"{tuple(expected[key])}; the file does not match the configured architecture "
                             "(wrong SD1.5 unet/config.json, or a different model)")
        out[key] = tensor
    missing = [k for k in expected if k not in out]
    if missing:
        source, official, advice = missing_hint(missing[0])
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise AssetError(f"{source}: missing key {official!r}{more}; "
                         f"{advice or 'the file is incomplete or not the official MagicPortrait release'}")
    return out


def convert_reference_unet(sd: Mapping[str, torch.Tensor], expected: Shapes,
                           source: str = "reference_unet.pth") -> Converted:
    ignored = {k: REFERENCE_UNET_IGNORED[k] for k in sd if k in REFERENCE_UNET_IGNORED}
    converted = {k: (v, source, k) for k, v in sd.items() if k not in ignored}
    return Converted(_finish(converted, expected, lambda k: (source, k, "")), ignored)


def convert_denoising_unet(stage1: Mapping[str, torch.Tensor], motion: Mapping[str, torch.Tensor] | None,
                           expected: Shapes, stage1_source: str = "denoising_unet.pth",
                           motion_source: str | None = "motion_module.pth",
                           motion_precedence: str = "denoising_unet") -> Converted:
    """Merge a denoising_unet.pth (stage 1: no motion keys, or a full stage-2 dict) with a motion-module file.

    motion_precedence: where both files carry the same motion key, which one wins. The official loader
    applies denoising_unet.pth last (strict=False), so "denoising_unet" reproduces the official numbers.
    """
    if motion_precedence not in ("denoising_unet", "motion_module"):
        raise ValueError("motion_precedence must be 'denoising_unet' or 'motion_module'")
    merged: dict[str, tuple[torch.Tensor, str, str]] = {}
    ignored: dict[str, str] = {}

    def add(sd: Mapping[str, torch.Tensor], source: str, allow_2d: bool) -> None:
        for key, tensor in sd.items():
            if not is_motion_key(key):
                if not allow_2d:
                    raise AssetError(f"{source}: unexpected key {key!r}; a motion-module file holds only "
                                     "'*.motion_modules.*' keys")
                merged[key] = (tensor, source, key)
                continue
            internal = motion_key_to_internal(key)
            if internal is None:
                twin = key.replace(".attention_blocks.1.", ".attention_blocks.0.")
                if twin in sd and not _same(sd[twin], tensor):
                    raise AssetError(f"{source}: {key!r} differs from {twin!r}; the two temporal attentions "
                                     "of one block must share their sinusoidal position table")
                ignored[f"{source}:{key}"] = "duplicate of the block's first position-encoding table (Q18)"
                continue
            merged[internal] = (tensor, source, key)

    files = [(motion, motion_source, False), (stage1, stage1_source, True)]
    if motion_precedence == "motion_module":
        files.reverse()
    for sd, source, allow_2d in files:
        if sd is not None:
            add(sd, source, allow_2d)

    def hint(key: str) -> tuple[str, str, str]:
        if is_motion_key(key):
            official = motion_key_to_official(key)
            if motion_source is None:
                return (stage1_source, official, "it has no motion-module keys and no motion_module*.pth was found "
                        "next to it; put the release's motion-module file there")
            return (motion_source, official, "")
        return (stage1_source, key, "")

    return Converted(_finish(merged, expected, hint), ignored)


def convert_guidance_encoder(sd: Mapping[str, torch.Tensor], expected: Shapes,
                             source: str = "guidance_encoder.pth") -> Converted:
    n_attn = 1 + max((int(m.group(1)) for k in sd if (m := re.match(r"attentions\.(\d+)\.", k))), default=-1)
    last = f"attentions.{n_attn - 1}."
    converted, ignored = {}, {}
    for key, tensor in sd.items():
        if key.startswith(last):
            converted["attention." + key[len(last):]] = (tensor, source, key)
        elif key.startswith("attentions.") or key.startswith("guidance_attention."):
            ignored[key] = "built but never used by the official forward, which uses attentions[-1] only (Q3)"
        else:
            converted[key] = (tensor, source, key)
    return Converted(_finish(converted, expected, lambda k: (source, k.replace("attention.", last, 1), "")),
                     ignored)


def guidance_config_from_state_dict(sd: Mapping[str, torch.Tensor], source: str) -> tuple[int, int, tuple[int, ...]]:
    """(embedding_channels, input_channels, block_out_channels) read off the official weight shapes."""
    try:
        widths = [int(sd["conv_in.weight"].shape[0])]
        i = 1
        while f"blocks.{i}.weight" in sd:
            widths.append(int(sd[f"blocks.{i}.weight"].shape[0]))
            i += 2
        return int(sd["conv_out.weight"].shape[0]), int(sd["conv_in.weight"].shape[1]), tuple(widths)
    except KeyError as exc:
        raise AssetError(f"{source}: missing key {exc.args[0]!r}; not a MagicPortrait guidance encoder") from None


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    if a.device.type == "meta" or b.device.type == "meta":
        return a.shape == b.shape
    return a.shape == b.shape and torch.equal(a, b)
