"""`--engine diffusion` end to end on the tiny official-format weights (CPU, small size)."""

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from reenact import Reenactor
from reenact.generate.diffusion.prompt import PROMPT, _cache_key
from reenact.io.images import write_image
from reenact.io.video import iter_frames, probe_video
from tests.generate.test_diffusion_weights import make_weights_dir


@pytest.mark.slow
def test_diffusion_engine_runs_end_to_end_and_pastes_back(tmp_path, astronaut):
    weights = make_weights_dir(tmp_path)
    cache = tmp_path / "cache"
    cache.mkdir()
    # the tiny text width is 32; a cached prompt embedding stands in for the SD1.5 text encoder
    key = _cache_key(weights / "stable-diffusion-v1-5", PROMPT)
    save_file({"prompt_embeds": torch.zeros(1, 77, 32)}, str(cache / f"prompt-{key}.safetensors"))
    write_image(tmp_path / "face.png", astronaut)
    overrides = [f"paths.weights_dir={weights}", f"paths.cache_dir={cache}", "render.size=128",
                 "generate.diffusion.width=128", "generate.diffusion.height=128",
                 "generate.diffusion.num_inference_steps=2", "generate.diffusion.context_frames=4"]
    result = Reenactor(engine="diffusion", overrides=overrides).run(
        tmp_path / "face.png", "preset:talk", tmp_path / "out.mp4", preset_seconds=0.4)
    assert result.engine == "diffusion" and result.backend == "mesh" and result.frames == 10
    info = probe_video(result.output)
    assert (info.width, info.height, info.frame_count) == (512, 512, 10)
    frame = next(iter(iter_frames(result.output)))
    # random tiny weights make noise inside the crop; outside it the source is kept
    x0, y0, x1, y1 = _crop_box(astronaut)
    outside = np.ones(astronaut.shape[:2], bool)
    outside[max(0, y0):y1, max(0, x0):x1] = False
    assert outside.any()
    assert np.abs(frame[outside].astype(float) - astronaut[outside]).mean() < 3


def _crop_box(image):
    from reenact.faces import FaceOptions, detect_faces
    from reenact.faces.detect import for_magicportrait

    # the diffusion engine crops by MagicPortrait's rule (faces.crop_rule auto, issue 12)
    x0, y0, x1, y1 = detect_faces([image], video=False, options=for_magicportrait(FaceOptions(), True)).boxes[0]
    return int(x0) - 1, int(y0) - 1, int(np.ceil(x1)) + 1, int(np.ceil(y1)) + 1


def test_weights_convert_command(tmp_path, capsys):
    from reenact.cli import main

    weights = make_weights_dir(tmp_path)
    assert main(["weights", "convert", "--src", str(weights), "--out", str(tmp_path / "conv"), "-q"]) == 0
    assert (tmp_path / "conv" / "magicportrait.json").is_file()
    code = main(["weights", "convert", "--src", str(tmp_path / "missing"), "--out", str(tmp_path / "c2"), "-q"])
    err = capsys.readouterr().err
    assert code != 0 and err.startswith("reenact: error:") and "Traceback" not in err


def _complete_weights(tmp_path):
    weights = make_weights_dir(tmp_path)
    sd15 = weights / "stable-diffusion-v1-5"
    for rel in ("text_encoder/config.json", "text_encoder/model.safetensors", "tokenizer/vocab.json",
                "tokenizer/merges.txt"):
        (sd15 / rel).parent.mkdir(exist_ok=True)
        (sd15 / rel).write_text("{}")
    return weights


def test_auto_picks_warp_without_a_gpu_and_diffusion_with_one(tmp_path, monkeypatch):
    from reenact.config import load_config
    from reenact.generate.diffusion import device as device_mod
    from reenact.plan import make_plan

    weights = _complete_weights(tmp_path)
    cfg = load_config(None, [f"paths.weights_dir={weights}"])
    cpu = make_plan(cfg, device=None)
    assert cpu.engine == "warp" and "no GPU" in cpu.why
    assert make_plan(load_config(None, [f"paths.weights_dir={weights}", "run.engine=diffusion"]),
                     device=None).engine == "diffusion"           # asked for explicitly: allowed
    assert make_plan(cfg, device="cuda").engine == "diffusion"
    # the generator's own device probe says the same, with the cost in one line
    monkeypatch.setattr(device_mod.torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(device_mod.torch.backends.mps, "is_available", lambda: False)
    found = device_mod.diffusion_device()
    assert found.device is None and "per 512x512 frame" in found.reason and "\n" not in found.reason
    monkeypatch.setattr(device_mod.torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(device_mod.torch.cuda, "get_device_name", lambda i=0: "Test GPU")
    assert device_mod.diffusion_device().device.type == "cuda"


def test_a_reenactor_loads_each_engine_once_across_runs(tmp_path, astronaut, monkeypatch):
    import reenact.pipeline

    made = []
    real = reenact.pipeline.make_generator
    monkeypatch.setattr(reenact.pipeline, "make_generator", lambda name, cfg: made.append(name) or real(name, cfg))
    write_image(tmp_path / "face.png", astronaut)
    r = Reenactor(engine="warp")
    for i in range(2):
        r.run(tmp_path / "face.png", "preset:blink", tmp_path / f"out{i}.mp4", preset_seconds=0.2, audio=False)
    assert made == ["warp"] and (tmp_path / "out1.mp4").is_file()
