"""Reference attention: the denoising UNet's self-attention also looks at the reference image.

The reference UNet (a plain 2D UNet on the reference latents at timestep 0, Q5) records the input of
each spatial self-attention, i.e. the output of `norm1` of its 16 transformer blocks. The denoising
UNet's blocks with the same names (Q7) then attend with queries from their own `norm1(x)` over
keys/values from `[norm1(x), reference tokens]`. Both sides are diffusers attention processors on
`attn1`, so nothing else in the blocks changes. Motion modules and the guidance encoder are not
touched.

Unlike the official hook object, features are passed explicitly and live only for one `with` block,
so a stale or duplicated bank (Q9) cannot happen.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import torch
from diffusers.models.attention_processor import Attention, AttnProcessor2_0
from torch import nn

_sdpa = AttnProcessor2_0()   # stateless; the same SDPA attention diffusers uses by default


def spatial_transformer_blocks(unet: nn.Module) -> dict[str, nn.Module]:
    """name -> spatial BasicTransformerBlock, in the diffusers module order (motion modules excluded)."""
    blocks: dict[str, nn.Module] = {}
    groups = [("down_blocks", unet.down_blocks), ("up_blocks", unet.up_blocks)]
    for prefix, module_list in groups:
        for i, block in enumerate(module_list):
            for j, transformer in enumerate(getattr(block, "attentions", None) or ()):
                for k, tb in enumerate(transformer.transformer_blocks):
                    blocks[f"{prefix}.{i}.attentions.{j}.transformer_blocks.{k}"] = tb
    for j, transformer in enumerate(getattr(unet.mid_block, "attentions", None) or ()):
        for k, tb in enumerate(transformer.transformer_blocks):
            blocks[f"mid_block.attentions.{j}.transformer_blocks.{k}"] = tb
    return blocks


@dataclass
class ReferenceFeatures:
    """Per block name, the reference UNet's norm1 output: (B_ref, tokens, C)."""

    tensors: dict[str, torch.Tensor]

    def to(self, device: torch.device | str) -> "ReferenceFeatures":
        return ReferenceFeatures({k: v.to(device) for k, v in self.tensors.items()})


class _WriteProcessor:
    def __init__(self, sink: dict[str, torch.Tensor] | None, name: str) -> None:
        self.sink, self.name = sink, name

    def __call__(self, attn: Attention, hidden_states: torch.Tensor, encoder_hidden_states=None,
                 attention_mask=None, temb=None, **kwargs) -> torch.Tensor:
        if self.sink is not None:
            self.sink[self.name] = hidden_states
        return _sdpa(attn, hidden_states, encoder_hidden_states, attention_mask, temb)


class ReferenceWriter:
    """Installs recording processors on a reference UNet; `collect` runs it and returns the features."""

    def __init__(self, reference_unet: nn.Module) -> None:
        self.unet = reference_unet
        self.processors: dict[str, _WriteProcessor] = {}
        for name, block in spatial_transformer_blocks(reference_unet).items():
            self.processors[name] = _WriteProcessor(None, name)
            block.attn1.set_processor(self.processors[name])

    @property
    def names(self) -> list[str]:
        return list(self.processors)

    @torch.no_grad()
    def collect(self, ref_latents: torch.Tensor, text_embeds: torch.Tensor,
                fp16_roundtrip: bool = True) -> ReferenceFeatures:
        """ref_latents (B, 4, h, w), already scaled by 0.18215; always run at timestep 0 (Q5).

        fp16_roundtrip reproduces Q6: the official bank is copied to float16 on its way to the reader,
        so the reference tokens are rounded to fp16 even in a float32 run."""
        return self.record(ref_latents, text_embeds, fp16_roundtrip)

    def record(self, ref_latents: torch.Tensor, text_embeds: torch.Tensor,
               fp16_roundtrip: bool = False) -> ReferenceFeatures:
        """`collect` with autograd left as the caller set it: training backpropagates through it."""
        sink: dict[str, torch.Tensor] = {}
        for proc in self.processors.values():
            proc.sink = sink
        try:
            timestep = torch.zeros(ref_latents.shape[0], dtype=torch.long, device=ref_latents.device)
            self.unet(ref_latents, timestep, encoder_hidden_states=text_embeds, return_dict=False)
        finally:
            for proc in self.processors.values():
                proc.sink = None
        if fp16_roundtrip:
            sink = {k: v.to(torch.float16) for k, v in sink.items()}
        return ReferenceFeatures(sink)


class _ReadState:
    features: ReferenceFeatures | None = None
    num_frames: int = 1
    uncond_rows: int = 0


class _ReadProcessor:
    def __init__(self, state: _ReadState, name: str) -> None:
        self.state, self.name = state, name

    def __call__(self, attn: Attention, hidden_states: torch.Tensor, encoder_hidden_states=None,
                 attention_mask=None, temb=None, **kwargs) -> torch.Tensor:
        st = self.state
        ref = st.features.tensors.get(self.name) if st.features is not None else None
        if ref is None:
            return _sdpa(attn, hidden_states, None, attention_mask, temb)
        rows = hidden_states.shape[0]
        # reference batch b serves the F consecutive rows of clip b ("(b f)" order)
        ref = ref.to(hidden_states.dtype)
        if ref.shape[0] == 1:
            ref = ref.expand(rows, -1, -1)
        else:
            ref = ref.repeat_interleave(st.num_frames, dim=0)
        n_u = st.uncond_rows
        if n_u >= rows:
            return _sdpa(attn, hidden_states, None, attention_mask, temb)
        cond = hidden_states[n_u:]
        out = _sdpa(attn, cond, torch.cat([cond, ref[n_u:]], dim=1), attention_mask, temb)
        if n_u:
            # CFG is reference guidance (Q2): the unconditional rows attend without the reference
            out = torch.cat([_sdpa(attn, hidden_states[:n_u], None, attention_mask, temb), out], dim=0)
        return out


class ReferenceReader:
    """Installs reading processors on the denoising UNet; features are given per call with `use`."""

    def __init__(self, denoising_unet: nn.Module, writer_names: list[str] | None = None) -> None:
        blocks = spatial_transformer_blocks(denoising_unet)
        if writer_names is not None and sorted(writer_names) != sorted(blocks):
            raise ValueError("reference and denoising UNets have different transformer blocks; "
                             "both must be built from the same SD config")
        self.state = _ReadState()
        for name, block in blocks.items():
            block.attn1.set_processor(_ReadProcessor(self.state, name))

    @contextmanager
    def use(self, features: ReferenceFeatures | None, num_frames: int, uncond_rows: int = 0) -> Iterator[None]:
        """Within the block, UNet calls attend to `features` (None: plain self-attention). With CFG the
        first `uncond_rows` rows of the folded (b f) batch are the unconditional half."""
        self.state.features, self.state.num_frames, self.state.uncond_rows = features, num_frames, uncond_rows
        try:
            yield
        finally:
            self.state.features, self.state.num_frames, self.state.uncond_rows = None, 1, 0
