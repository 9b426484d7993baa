"""Speed and memory switches of the diffusion pipeline: each changes how the model runs, not what it
computes (or, for the fast solvers and open windows, changes it in the documented way)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from reenact.generate.diffusion import ContextSettings, GenerationSettings, MagicPortraitPipeline
from reenact.generate.diffusion.pipeline import load_vae
from tests.generate._magicportrait import TINY, case, recording_unet_calls, tiny_model

SIZE = 128          # the tiny UNet downsamples 16x16 latents to 2x2


@pytest.fixture(scope="module")
def pipe() -> MagicPortraitPipeline:
    return MagicPortraitPipeline(tiny_model(), load_vae(TINY / "vae"),
                                 prompt_embeds=case("pipeline_case")["inputs"]["prompt_embeds"])


def guidance(frames: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {t: rng.integers(0, 256, (frames, SIZE, SIZE, 3), dtype=np.uint8) for t in ("depth", "normal", "render")}


REFERENCE = np.random.default_rng(5).integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)


def settings(**kw) -> GenerationSettings:
    return GenerationSettings(**{"width": SIZE, "height": SIZE, "num_inference_steps": 1,
                                 "context": ContextSettings(frames=4, overlap=1), **kw})


def latents(pipe, maps, **kw) -> torch.Tensor:
    return pipe.generate_latents(REFERENCE, maps, settings(**kw), progress=False)


def test_official_switch_restores_every_official_choice():
    s = GenerationSettings(official=True, dtype="bf16", scheduler="unipc", window_batch=8, compile=True,
                           channels_last=True, decode_chunk=8)
    assert (s.dtype, s.scheduler, s.window_batch, s.decode_chunk) == ("fp32", "ddim", 1, 1)
    assert s.context.closed_loop and not (s.tf32 or s.compile or s.channels_last or s.features_on_device)
    assert s.torch_dtype("cuda") == torch.float32
    d = GenerationSettings()
    assert not d.context.closed_loop and d.window_batch > 1 and d.features_on_device
    assert d.torch_dtype("cuda") == torch.float16 and d.torch_dtype("cpu") == torch.float32


def test_batched_windows_and_device_features_compute_what_one_window_per_call_does(pipe):
    maps = guidance(10)
    with recording_unet_calls(pipe, lambda x: x.shape[0]) as calls:
        one = latents(pipe, maps, window_batch=1, features_on_device=False)
        n_single = len(calls)
        calls.clear()
        batched = latents(pipe, maps, window_batch=4)
    # 10 frames in windows of 4 (overlap 1): 3 windows; 1 step; CFG doubles the batch
    assert n_single == 3 and calls == [6]
    assert (one - batched).abs().max().item() < 1e-4


def test_streamed_guidance_batches_give_the_same_video_as_arrays(pipe):
    maps = guidance(7)
    whole = latents(pipe, maps)
    stream = ({t: m[i:i + 3] for t, m in maps.items()} for i in range(0, 7, 3))     # uneven batches of 3
    streamed = pipe.generate_latents(REFERENCE, stream, settings(), num_frames=7, progress=False)
    assert torch.equal(whole, streamed)


def test_first_frames_do_not_depend_on_the_last_ones_unless_windows_wrap(pipe):
    frames = 13                                             # windows [0-3] [3-6] [6-9] [9-12]
    maps = guidance(frames)
    changed = {t: m.copy() for t, m in maps.items()}
    for m in changed.values():
        m[-2:] = 255 - m[-2:]
    a, b = latents(pipe, maps), latents(pipe, changed)
    assert torch.equal(a[:, :, :6], b[:, :, :6])            # one step moves information one window at most
    assert (a[:, :, -2:] - b[:, :, -2:]).abs().max() > 1e-3
    closed = ContextSettings(frames=4, overlap=1, closed_loop=True)
    a, b = latents(pipe, maps, context=closed), latents(pipe, changed, context=closed)
    assert (a[:, :, 0] - b[:, :, 0]).abs().max() > 1e-4    # official: the last window [12, 0, 1, 2] holds frame 0


@pytest.mark.parametrize("solver", ["dpm++", "unipc"])
def test_fast_solvers_run_the_same_noise_schedule_in_fewer_steps(pipe, solver):
    maps = guidance(4)
    steps: list[int] = []
    out = pipe.generate_latents(REFERENCE, maps, settings(scheduler=solver, num_inference_steps=2),
                                progress=False, callback=lambda i, t, x: steps.append(t))
    assert len(steps) == 2 and steps[0] == 999 and bool(torch.isfinite(out).all())
    ddim = latents(pipe, maps, num_inference_steps=2)
    assert (out - ddim).abs().max() > 0                      # a different solver, not silently DDIM


def test_channels_last_slicing_and_tiling_keep_the_frames(pipe):
    maps = guidance(3)
    z = latents(pipe, maps)
    plain = pipe.decode(z, 3)
    pipe.configure(settings(channels_last=True, vae_slicing=True))
    try:
        assert pipe.vae.use_slicing
        assert pipe.model.denoising_unet.conv_in.weight.is_contiguous(memory_format=torch.channels_last)
        assert (pipe.decode(z, 3) - plain).abs().max() < 1e-4
        assert (latents(pipe, maps, channels_last=True) - z).abs().max() < 1e-4
        pipe.configure(settings(vae_tiling=True))
        assert pipe.vae.use_tiling and not pipe.vae.use_slicing
        assert pipe.decode(z, 3).shape == plain.shape
    finally:
        pipe.configure(settings())
    assert not pipe.vae.use_tiling


def test_model_cpu_offload_installs_accelerate_hooks_and_keeps_the_result(pipe):
    maps = guidance(3)
    base = latents(pipe, maps)
    try:
        out = latents(pipe, maps, cpu_offload=True)
        assert hasattr(pipe.model.denoising_unet, "_hf_hook") and hasattr(pipe.vae, "_hf_hook")
        assert pipe.device.type == "cpu"
        assert torch.equal(out, base)
    finally:
        pipe.configure(settings())
    assert not hasattr(pipe.model.denoising_unet, "_hf_hook") or pipe.model.denoising_unet._hf_hook is None


def test_offloaded_inputs_go_where_the_model_runs_not_where_its_weights_rest(pipe, monkeypatch):
    """On a GPU the offloaded weights rest on the CPU, and accelerate moves a module's inputs only when
    it moves the module itself: a guidance encoder still on the GPU from the last batch got CPU maps
    (found on an H200). Here the weights' resting place is faked as `meta`, the run device is the CPU."""
    maps = guidance(20)                           # two guidance batches of 16: the encoders stay put in between
    base = latents(pipe, maps)
    try:
        pipe.enable_model_cpu_offload("cpu")
        monkeypatch.setattr(type(pipe.model), "device", property(lambda self: torch.device("meta")))
        out = latents(pipe, maps, cpu_offload=True)
    finally:
        monkeypatch.undo()
        pipe.configure(settings())
    assert torch.equal(out, base)


def test_decoded_frames_come_out_one_chunk_at_a_time(pipe):
    z = latents(pipe, guidance(5))
    chunks = list(pipe.iter_decoded(z, 2))
    assert [c.shape[0] for c in chunks] == [2, 2, 1]
    frames = list(pipe.iter_frames(z, 2))
    assert len(frames) == 5 and frames[0].shape == (SIZE, SIZE, 3) and frames[0].dtype == np.uint8
