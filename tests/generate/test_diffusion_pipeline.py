"""Long-video pipeline behaviour: context windows, per-window guidance, inputs, dtypes, decoding."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from reenact.errors import InputError
from reenact.generate.diffusion import (ContextSettings, GenerationSettings, MagicPortraitPipeline, load_model,
                                        uniform_windows)
from reenact.generate.diffusion.inputs import guidance_sources
from reenact.generate.diffusion.pipeline import load_vae
from tests.generate._magicportrait import (TINY, case, forward_inputs, recording_unet_calls, tiny_checkpoints,
                                          tiny_model)


@pytest.fixture(scope="module")
def pipe() -> MagicPortraitPipeline:
    return MagicPortraitPipeline(tiny_model(), load_vae(TINY / "vae"),
                                 prompt_embeds=case("pipeline_case")["inputs"]["prompt_embeds"])


def random_guidance(frames: int, size: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {t: rng.integers(0, 256, (frames, size, size, 3), dtype=np.uint8) for t in ("depth", "normal", "render")}


@pytest.mark.parametrize("frames, expected", [
    (5, [[0, 1, 2, 3, 4]]),
    (12, [list(range(12))]),
    (13, [list(range(12)), [11, 12] + list(range(10))]),
    (30, [list(range(12)), list(range(11, 23)), [22, 23, 24, 25, 26, 27, 28, 29, 0, 1, 2, 3]]),
])
def test_official_windows_start_every_11_frames_and_wrap_around(frames, expected):
    assert uniform_windows(frames, ContextSettings(closed_loop=True)) == expected


@pytest.mark.parametrize("frames, expected", [
    (13, [list(range(12)), list(range(1, 13))]),
    (30, [list(range(12)), list(range(11, 23)), list(range(18, 30))]),
    (100, [list(range(s, s + 12)) for s in range(0, 78, 11)] + [list(range(88, 100))]),
])
def test_default_windows_stay_inside_the_clip_and_end_on_its_last_frame(frames, expected):
    assert uniform_windows(frames, ContextSettings()) == expected


def test_open_windows_cover_every_frame_exactly_without_wrapping():
    for frames in range(1, 120):
        for settings in (ContextSettings(), ContextSettings(16, 4), ContextSettings(8, 0), ContextSettings(5, 4)):
            windows = uniform_windows(frames, settings)
            assert sorted(set().union(*map(set, windows))) == list(range(frames))
            assert all(w == list(range(w[0], w[0] + len(w))) for w in windows)          # contiguous, no wrap
            assert all(len(w) == min(frames, settings.frames) for w in windows)


def test_uniform_windows_cover_every_frame_with_any_settings():
    for frames in (14, 40, 97):
        for settings in (ContextSettings(16, 4), ContextSettings(12, 1, stride=2, closed_loop=True),
                         ContextSettings(8, 2, closed_loop=True)):
            windows = uniform_windows(frames, settings)
            assert set().union(*map(set, windows)) == set(range(frames))
            assert all(len(w) == min(frames, settings.frames) for w in windows)
    strided = uniform_windows(40, ContextSettings(12, 1, stride=2, closed_loop=True))
    assert [0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22] in strided            # the every-2nd-frame level


@pytest.mark.slow
def test_long_clip_runs_window_by_window_with_guidance_features_computed_once_per_frame(pipe, capsys):
    # windows of 4 with overlap 1 over 8 frames: [0..3], [3..6], [6, 7, 0, 1] (official: the last wraps around)
    frames, size, context = 8, 128, ContextSettings(frames=4, overlap=1, closed_loop=True)
    encoder_batches: list[int] = []
    hooks = [enc.register_forward_hook(lambda m, args, out: encoder_batches.append(args[0].shape[2]))
             for enc in pipe.model.guidance_encoders.values()]
    try:
        with recording_unet_calls(pipe, lambda latents: latents.shape[2]) as unet_frames:
            video = pipe(np.full((size, size, 3), 128, np.uint8), random_guidance(frames, size),
                         GenerationSettings(width=size, height=size, num_inference_steps=1, context=context,
                                            window_batch=1, features_on_device=False),
                         progress=True)
    finally:
        for h in hooks:
            h.remove()
    assert video.frames.shape == (frames, 3, size, size) and video.latents.shape == (1, 4, frames, 16, 16)
    assert bool(torch.isfinite(video.frames).all()) and 0 <= video.frames.min() and video.frames.max() <= 1
    assert unet_frames == [4, 4, 4]                                  # one window per call, never the whole clip
    assert max(encoder_batches) <= 4 and sum(encoder_batches) == 3 * frames   # each frame encoded once per type
    assert "diffusion" in capsys.readouterr().err                    # progress bar on stderr


def test_guidance_arrays_folders_and_float_maps_read_identically(tmp_path):
    src = guidance_sources(TINY / "pipeline_inputs" / "guidance")
    folder = src["normal"].read([3, 7], 192, 128)
    arrays = {t: np.stack([np.array(Image.open(p).convert("RGB")) for p in s.frames]) for t, s in src.items()}
    from_arrays = guidance_sources(arrays)["normal"].read([3, 7], 192, 128)
    from_floats = guidance_sources({t: a / 255.0 for t, a in arrays.items()})["normal"].read([3, 7], 192, 128)
    assert folder.shape == (1, 3, 2, 128, 192)
    assert torch.equal(folder, from_arrays) and torch.equal(folder, from_floats)
    assert 0.0 <= folder.min() and folder.max() <= 1.0                 # [0, 1], not [-1, 1] (Q14)


def test_bad_inputs_give_one_line_input_errors(pipe, tmp_path):
    ok = random_guidance(4, 64)
    ref = np.zeros((64, 64, 3), np.uint8)   # every error is raised before any model runs
    with pytest.raises(InputError, match="multiples of 8"):
        pipe(ref, ok, GenerationSettings(width=60, height=64), progress=False)
    with pytest.raises(InputError, match="different frame counts"):
        pipe(ref, {**ok, "render": ok["render"][:3]}, GenerationSettings(width=64, height=64), progress=False)
    (tmp_path / "depth").mkdir()
    with pytest.raises(InputError, match="lacks the subfolder"):
        pipe(ref, tmp_path, GenerationSettings(width=64, height=64), progress=False)
    with pytest.raises(InputError, match="image not found"):
        pipe(tmp_path / "missing.png", ok, GenerationSettings(width=64, height=64), progress=False)
    with pytest.raises(InputError, match="asked for 9 frames"):
        pipe(ref, ok, GenerationSettings(width=64, height=64), num_frames=9, progress=False)
    with pytest.raises(InputError, match="exceeds the motion module"):
        pipe(ref, ok, GenerationSettings(width=64, height=64, context=ContextSettings(frames=40)), progress=False)


def test_decoding_in_chunks_equals_decoding_frame_by_frame(pipe):
    latents = case("pipeline_case")["intermediates"]["final_latents"][:, :, :5]
    with torch.no_grad():
        one, chunked = pipe.decode(latents, chunk=1), pipe.decode(latents, chunk=3)
    assert one.shape == (5, 3, 128, 192)
    assert (one - chunked).abs().max().item() < 1e-5


@pytest.mark.slow
def test_bf16_model_tracks_the_fp32_forward():
    model = load_model(tiny_checkpoints(), dtype=torch.bfloat16)
    with torch.no_grad():
        pred = model(*forward_inputs())
    official = case("forward_case")["outputs"]["model_pred"]
    assert pred.dtype == torch.bfloat16
    err = (pred.float() - official).abs()
    assert err.max().item() < 0.1 and err.mean().item() < 0.01      # bf16 keeps ~3 significant digits


def test_settings_from_config_section():
    from reenact.config import load_config

    assert GenerationSettings.from_config(load_config().generate.diffusion) == GenerationSettings()
    s = GenerationSettings.from_config({"num_inference_steps": 4, "guidance_scale": 2.0, "context_frames": 16,
                                        "context_overlap": 4, "seed": 7, "dtype": "bf16"})
    assert (s.num_inference_steps, s.guidance_scale, s.seed) == (4, 2.0, 7)
    assert s.context == ContextSettings(frames=16, overlap=4)
