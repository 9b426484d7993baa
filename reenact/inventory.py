"""What this machine has: every asset reenact can use, found or missing, in one list.

`reenact doctor` prints it, the planner reads it to decide what runs, and the engines rely on the
planner's decision. Groups are looked up only when asked for, so a warp run never touches the
diffusion packages.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from .asset import Asset
from .config import cache_dir, eval_weights_dir, resolve_path
from .errors import AssetError

GROUPS = ("faces", "flame", "encoders", "diffusion", "eval")
MISPLACED = "misplaced file"   # a diffusion row whose note says what to move where


@dataclass
class Inventory:
    cfg: Any
    _groups: dict[str, list[Asset]] = field(default_factory=dict, repr=False)

    def group(self, name: str) -> list[Asset]:
        if name not in self._groups:
            self._groups[name] = _COLLECTORS[name](self.cfg)
        return self._groups[name]

    def rows(self) -> list[Asset]:
        return [row for name in GROUPS for row in self.group(name)]

    def missing(self, name: str) -> list[Asset]:
        """The required assets of a group that are absent."""
        return [a for a in self.group(name) if a.required and not a.found]

    @cached_property
    def flame_ready(self) -> bool:
        """The FLAME model and its landmark embedding are both present."""
        return not self.missing("flame")

    def diffusion_problem(self) -> str | None:
        """Why the diffusion engine cannot load its weights, or None when every file is there."""
        missing = self.missing("diffusion")
        if missing and missing[0].name == MISPLACED:
            return missing[0].note
        return f"missing {missing[0].name} at {missing[0].path}" if missing else None


def _landmarker(cfg: Any) -> list[Asset]:
    from .faces.landmarker import MODEL_PATH, MODEL_SOURCE, verified_model

    try:
        verified_model()
        found, note = True, "sha256 verified"
    except AssetError as exc:
        found, note = False, f"{exc} (source: {MODEL_SOURCE})"
    return [Asset("faces", "MediaPipe face landmarker", MODEL_PATH, found, True, note, "Apache-2.0")]


def _flame(cfg: Any) -> list[Asset]:
    from .flame.assets import flame_asset_report

    return flame_asset_report(cfg)


def _encoders(cfg: Any) -> list[Asset]:
    from .tracking.encoders.assets import encoder_asset_rows

    return encoder_asset_rows(cfg)


def _diffusion(cfg: Any) -> list[Asset]:
    from .generate.diffusion.layout import inspect_weights
    from .generate.diffusion.prompt import prompt_cached

    layout = inspect_weights(resolve_path(cfg.paths.weights_dir))
    # once the fixed prompt's embedding is cached, the text encoder and tokenizer are not needed
    prompt_ok = prompt_cached(layout.sd15, cache_dir(cfg), text_encoder=layout.text_encoder, tokenizer=layout.tokenizer)
    # which layout was recognised (official download, reenact folders, converted, single files)
    rows = [Asset("diffusion", f"weights layout: {layout.name}", layout.root, layout.name != "incomplete", False,
                  "no MagicPortrait checkpoints found here; docs/generator.md lists the layouts")]
    for w in layout.rows:
        required = w.required and not (prompt_ok and ("text encoder" in w.name or "tokenizer" in w.name))
        note = (w.note or "") if w.found else f"get it from {w.source}" + (f" ({w.note})" if w.note else "")
        rows.append(Asset("diffusion", w.name, w.path, w.found, required, note,
                          "CreativeML OpenRAIL-M (SD1.5); MagicPortrait's licence" if required else ""))
    # misplaced files: one row each, its note the exact move that fixes it
    rows += [Asset("diffusion", MISPLACED, layout.root, False, True, problem) for problem in layout.problems]
    return rows


def _eval(cfg: Any) -> list[Asset]:
    from .eval.weights import weight_status

    return weight_status(eval_weights_dir(cfg))


_COLLECTORS = {"faces": _landmarker, "flame": _flame, "encoders": _encoders, "diffusion": _diffusion, "eval": _eval}
