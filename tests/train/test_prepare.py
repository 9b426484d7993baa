"""`reenact train prepare`: the inference's maps for the same frames, quality filters, resuming; a real clip
from ../shared/data when present."""

import json

import numpy as np
from portrait_helpers import SHARED_DATA, shared_data

from reenact.pipeline import Reenactor
from reenact.render.write import read_guidance
from reenact.train import prepare as prepare_module
from reenact.train import PrepareOptions, prepare_dataset


def test_prepare_keeps_the_moving_face_and_says_why_the_others_were_dropped(prepared):
    out, report, _ = prepared
    by_name = {c["name"]: c for c in report["clips"]}
    assert report["kept"] == 1 and report["dropped"] == 2
    assert by_name["astronaut"]["kept"] and by_name["astronaut"]["frames"] == 10
    assert by_name["short"]["reason"].startswith("too short: 3 frames")
    assert by_name["cut"]["reason"].startswith("scene cut at frame 5")
    index = json.loads((out / "index.json").read_text())
    assert [c["name"] for c in index["clips"]] == ["astronaut"]
    clip = out / "clips" / "astronaut"
    assert len(list((clip / "frames").glob("*.png"))) == 10
    assert json.loads((out / "report.json").read_text())["kept"] == 1


def test_prepared_maps_are_the_inference_maps_of_the_same_frames(prepared, videos, tmp_path):
    out, _, cfg = prepared
    clip = out / "clips" / "astronaut"
    ours, _ = read_guidance(clip / "maps")
    # what `reenact guidance --source <frame 0> --driving <the clip>` renders
    inference = Reenactor(cfg).guidance(clip / "source.png", videos / "astronaut.mp4", tmp_path / "maps")
    theirs, _ = read_guidance(inference)
    for name in ("depth", "normal", "render"):
        assert ours[name].shape == (10, 128, 128, 3)
        assert np.array_equal(ours[name], theirs[name]), name
        assert ours[name].std() > 5          # real maps, not blank frames


def test_prepare_resumes_finished_clips_and_redoes_only_missing_ones(prepared, videos, monkeypatch):
    out, report, cfg = prepared
    calls = []
    real = prepare_module.prepare_clip

    def counting(video, name, *args, **kwargs):
        calls.append(name)
        return real(video, name, *args, **kwargs)

    monkeypatch.setattr(prepare_module, "prepare_clip", counting)
    again = prepare_dataset(videos, out, PrepareOptions(min_frames=8), config=cfg)
    assert calls == [] and again == report
    (out / "clips" / "short" / "status.json").unlink()
    prepare_dataset(videos, out, PrepareOptions(min_frames=8), config=cfg)
    assert calls == ["short"]


@shared_data
def test_a_real_clip_prepares_like_inference_and_stage1_overfits_it(train_assets, tmp_path):
    from _setup import small_config
    from portrait_helpers import write_test_video
    from reenact.config import load_config
    from reenact.io.video import iter_frames, probe_video
    from reenact.train import train_stage

    real = sorted((SHARED_DATA / "driving").glob("*.mp4"))[0]
    write_test_video(tmp_path / "videos" / "real.mp4", list(iter_frames(real, max_frames=10)), probe_video(real).fps)
    cfg = load_config(None, ["render.size=128", "faces.crop_size=256"])
    report = prepare_dataset(tmp_path / "videos", tmp_path / "data", PrepareOptions(min_frames=8), config=cfg)
    assert report["kept"] == 1, report["clips"]
    clip = tmp_path / "data" / "clips" / "real"
    ours, _ = read_guidance(clip / "maps")
    theirs, _ = read_guidance(Reenactor(cfg).guidance(clip / "source.png", tmp_path / "videos" / "real.mp4",
                                                      tmp_path / "maps"))
    for name in ("depth", "normal", "render"):
        assert ours[name].shape == (10, 128, 128, 3) and np.array_equal(ours[name], theirs[name]), name
    run = train_stage(small_config(train_assets, tmp_path / "run", max_steps=20, overfit_batches=4), tmp_path / "data")
    first, last = np.mean(run.losses[:4]), np.mean(run.losses[-4:])
    assert last < 0.5 * first, (first, last)
