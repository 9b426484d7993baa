"""Loading the user's DECA and SMIRK checkpoints into our encoder modules, strictly.

Files are read with `torch.load(weights_only=True)` (tensors and plain containers only). Every
key of the wanted sub-network must be present with the right shape, and no unknown key may be
left over: a wrong or damaged file is an AssetError naming the file and the key, never a
silently half-loaded network (the official loaders skip such keys without a word).
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import torch
from torch import nn

from ...errors import AssetError
from .deca import DecaEncoder
from .smirk import SmirkExpressionEncoder

DECA_ENTRY = "E_flame"                  # deca_model.tar = {'E_flame', 'E_detail', 'D_detail', ...}
SMIRK_PREFIX = "smirk_encoder."
SMIRK_EXPRESSION = SMIRK_PREFIX + "expression_encoder."
# Sub-networks of SMIRK_em1.pt that MagicPortrait discards; their keys are expected, not loaded.
SMIRK_UNUSED = (SMIRK_PREFIX + "pose_encoder.", SMIRK_PREFIX + "shape_encoder.", "smirk_generator.")


def read_checkpoint(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise AssetError(f"checkpoint not found: {path} (see `reenact doctor` for where to put it)")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for damaged or non-tensor pickles
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise AssetError(f"cannot read {path} as a tensor-only torch checkpoint: {first}") from None
    if not isinstance(ckpt, Mapping):
        raise AssetError(f"{path} holds a {type(ckpt).__name__}, not a dict of tensors")
    return dict(ckpt)


def assign_state(model: nn.Module, state: Mapping[str, torch.Tensor], where: str) -> nn.Module:
    """Load `state` into `model` after checking every key and shape (works on the meta device too:
    the tensors are assigned, not copied)."""
    expected = model.state_dict()
    for key, value in state.items():
        if key not in expected:
            raise AssetError(f"{where}: unknown key {key!r}; is this the right checkpoint?")
        if not isinstance(value, torch.Tensor):
            raise AssetError(f"{where}: key {key!r} is a {type(value).__name__}, not a tensor")
        if tuple(value.shape) != tuple(expected[key].shape):
            raise AssetError(f"{where}: key {key!r} has shape {tuple(value.shape)}, "
                             f"expected {tuple(expected[key].shape)}")
    for key in expected:
        if key not in state:
            raise AssetError(f"{where}: missing key {key!r}; is this the right checkpoint?")
    model.load_state_dict({k: v.to(expected[k].dtype) for k, v in state.items()}, strict=True, assign=True)
    return model.eval()


def deca_state(ckpt: Mapping, path: str | Path) -> Mapping[str, torch.Tensor]:
    if DECA_ENTRY not in ckpt or not isinstance(ckpt[DECA_ENTRY], Mapping):
        raise AssetError(f"{path}: no {DECA_ENTRY!r} entry; is this DECA's deca_model.tar?")
    return ckpt[DECA_ENTRY]


def smirk_state(ckpt: Mapping, path: str | Path) -> dict[str, torch.Tensor]:
    """The expression encoder's keys, prefix stripped; SMIRK's other sub-networks are skipped."""
    if not any(k.startswith(SMIRK_PREFIX) for k in ckpt):
        raise AssetError(f"{path}: no {SMIRK_PREFIX}* keys; is this SMIRK's SMIRK_em1.pt?")
    state = {}
    for key, value in ckpt.items():
        if key.startswith(SMIRK_EXPRESSION):
            state[key[len(SMIRK_EXPRESSION):]] = value
        elif not key.startswith(SMIRK_UNUSED):
            raise AssetError(f"{path}: unknown key {key!r}; is this SMIRK's SMIRK_em1.pt?")
    return state


def load_deca_encoder(path: str | Path, device: str | torch.device = "cpu") -> DecaEncoder:
    state = deca_state(read_checkpoint(path), path)
    return assign_state(DecaEncoder(), state, f"{path} [{DECA_ENTRY}]").to(device)


def load_smirk_encoder(path: str | Path, device: str | torch.device = "cpu") -> SmirkExpressionEncoder:
    state = smirk_state(read_checkpoint(path), path)
    return assign_state(SmirkExpressionEncoder(), state, f"{path} [{SMIRK_EXPRESSION}*]").to(device)
