"""What runs when: the planner's decisions, as the README's Engines table states them."""

import shutil

import pytest
import torch
from safetensors.torch import save_file

from reenact.config import load_config
from reenact.errors import AssetError, InputError, NotAvailableError
from reenact.plan import make_plan, plan_maps


@pytest.fixture
def no_flame(tmp_path):
    return [f"paths.flame_dir={tmp_path / 'no-flame'}", f"paths.weights_dir={tmp_path / 'no-weights'}"]


@pytest.fixture
def flame_dir(tmp_path, head_files):
    folder = tmp_path / "flame"
    folder.mkdir()
    shutil.copy(head_files["model"], folder / "generic_model.pkl")
    shutil.copy(head_files["landmark_embedding"], folder)
    return folder


@pytest.fixture
def weights(tmp_path):
    """The tiny official-format weights with a cached prompt embedding (no text encoder needed)."""
    from reenact.generate.diffusion.prompt import PROMPT, _cache_key
    from tests.generate.test_diffusion_weights import make_weights_dir

    weights = make_weights_dir(tmp_path)
    cache = tmp_path / "cache"
    cache.mkdir()
    save_file({"prompt_embeds": torch.zeros(1, 77, 32)},
              str(cache / f"prompt-{_cache_key(weights / 'stable-diffusion-v1-5', PROMPT)}.safetensors"))
    return [f"paths.weights_dir={weights}", f"paths.cache_dir={cache}"]


def test_a_fresh_cpu_machine_gets_the_warp_engine_on_the_mesh(no_flame):
    plan = make_plan(load_config(overrides=no_flame), "video", device=None)
    assert (plan.engine, plan.tracker, plan.alignment, plan.renderer, plan.device) == ("warp", "mesh", "relative",
                                                                                      None, "cpu")
    assert "no GPU" in plan.line() and plan.line().startswith("plan: engine warp")


def test_auto_never_picks_diffusion_without_a_gpu_even_with_weights(no_flame, weights):
    cfg = load_config(overrides=[*no_flame, *weights])
    assert make_plan(cfg, "video", device=None).engine == "warp"
    # with a GPU and the weights, diffusion; its maps come from the mesh when FLAME is absent
    plan = make_plan(cfg, "video", device="cuda")
    assert (plan.engine, plan.tracker, plan.renderer, plan.device) == ("diffusion", "mesh", "torch", "cuda")


def test_auto_with_a_gpu_but_no_weights_says_what_is_missing(no_flame):
    plan = make_plan(load_config(overrides=no_flame), "video", device="cuda")
    assert plan.engine == "warp" and "diffusion not ready: missing" in plan.why


def test_asking_for_diffusion_without_weights_is_one_line(no_flame):
    with pytest.raises(NotAvailableError, match="the diffusion engine cannot run: missing MagicPortrait"):
        make_plan(load_config(overrides=[*no_flame, "run.engine=diffusion"]), "video", device=None)


def test_flame_feeds_the_diffusion_engine_and_the_warp_engine_keeps_the_mesh(tmp_path, flame_dir, weights):
    cfg = load_config(overrides=[f"paths.flame_dir={flame_dir}", *weights])
    diffusion = make_plan(cfg, "video", device="cuda")
    assert (diffusion.engine, diffusion.tracker, diffusion.alignment) == ("diffusion", "flame", "absolute")
    warp = make_plan(load_config(overrides=[f"paths.flame_dir={flame_dir}", "run.engine=warp"]), "video")
    assert (warp.engine, warp.tracker, warp.alignment) == ("warp", "mesh", "relative")
    # `reenact track` / `reenact guidance` use the best tracker there is
    assert plan_maps(cfg).tracker == "flame"


def test_tracking_backend_is_honoured_or_refused_in_one_line(no_flame, flame_dir, weights):
    with pytest.raises(InputError, match="tracking.backend=flame: the warp engine consumes mesh tracks"):
        make_plan(load_config(overrides=[f"paths.flame_dir={flame_dir}", "run.engine=warp",
                                         "tracking.backend=flame"]), "video")
    with pytest.raises(AssetError, match="tracking.backend=flame: FLAME needs"):
        make_plan(load_config(overrides=[*no_flame, *weights, "run.engine=diffusion", "tracking.backend=flame"]),
                  "video", device="cuda")
    mesh = make_plan(load_config(overrides=[f"paths.flame_dir={flame_dir}", *weights, "tracking.backend=mesh"]),
                     "video", device="cuda")
    assert (mesh.engine, mesh.tracker, mesh.alignment) == ("diffusion", "mesh", "relative")
    with pytest.raises(InputError, match="unknown tracker backend 'deca'"):
        make_plan(load_config(overrides=[*no_flame, "tracking.backend=deca"]), "video")
    with pytest.raises(InputError, match="unknown engine 'magic'"):
        make_plan(load_config(overrides=[*no_flame, "run.engine=magic"]), "video")


def test_alignment_mode_follows_the_tracker_and_the_driving_kind(no_flame, flame_dir):
    assert make_plan(load_config(overrides=no_flame), "image").alignment == "relative"
    # absolute works for the mesh too (the driving's rotation as it is, the head on the source's body)
    assert make_plan(load_config(overrides=[*no_flame, "align.mode=absolute"]), "video").alignment == "absolute"
    with pytest.raises(InputError, match="multipliers"):
        make_plan(load_config(overrides=[*no_flame, "align.mode=absolute", "align.pose_scale=2"]), "video")
    cfg = load_config(overrides=[f"paths.flame_dir={flame_dir}", "align.mode=relative"])
    assert plan_maps(cfg).alignment == "relative" and plan_maps(cfg, tracker="mesh").tracker == "mesh"
