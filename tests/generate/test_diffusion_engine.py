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
