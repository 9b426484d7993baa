#!/usr/bin/env python
"""The official tiny golden pipeline case (tests/fixtures/tiny, made by the official MagicPortrait code)
on an accelerator: `--official` fp32 must reproduce the golden video there too; the fast path in
fp32/fp16/bf16 is reported next to it (it differs by design: open windows, batched windows).

    python tools/golden_on_device.py            # cuda
    python tools/golden_on_device.py cpu        # the same on the CPU (the test suite checks this one)
"""
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reenact.generate.diffusion import GenerationSettings, WeightPaths, load_pipeline  # noqa: E402
from tests.generate._magicportrait import TINY, case  # noqa: E402


def main() -> int:
    device = sys.argv[1] if len(sys.argv) > 1 else "cuda"
    golden = case("pipeline_case")
    kw = golden["call"]["kwargs"]
    report = {}
    for dtype, official in (("fp32", True), ("fp32", False), ("fp16", False), ("bf16", False)):
        pipe = load_pipeline(paths=WeightPaths(TINY, TINY, TINY / "vae"), device=device, dtype=dtype,
                             prompt_embeds=golden["inputs"]["prompt_embeds"])
        settings = GenerationSettings(width=kw["width"], height=kw["height"],
                                      num_inference_steps=kw["num_inference_steps"],
                                      guidance_scale=kw["guidance_scale"], seed=golden["call"]["generator_seed"],
                                      official=official, **({} if official else {"dtype": dtype}))
        start = time.perf_counter()
        video = pipe(TINY / "pipeline_inputs" / "ref_image.png", TINY / "pipeline_inputs" / "guidance", settings,
                     num_frames=kw["video_length"], progress=False)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        diff = (video.frames.permute(1, 0, 2, 3)[None].float() - golden["outputs"]["video"].float()).abs()
        report[f"{dtype}{'-official' if official else ''}"] = {
            "max_abs_vs_golden": float(diff.max()), "mean_abs_vs_golden": float(diff.mean()),
            "seconds": round(time.perf_counter() - start, 2)}
    print(json.dumps(report, indent=1))
    return 0 if report["fp32-official"]["max_abs_vs_golden"] < 1e-4 else 1      # the suite's PIPELINE_ATOL


if __name__ == "__main__":
    raise SystemExit(main())
