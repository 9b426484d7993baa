"""Every flag of the main command, passed through `reenact.cli.main` and checked on what it wrote.

Each test fails when its flag is ignored: it compares the output against what the same run makes
without the flag (or with another value), measured on the video itself — frame count, frame size,
stream rate, audio stream, landmark motion found by MediaPipe on the output frames.

All runs use short clips of the public-domain astronaut portrait, no FLAME and no diffusion
weights (empty folders), so the mesh tracker and the warp engine run on any machine.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from portrait_helpers import similarity, warp, write_clip_with_tone, write_test_video
from reenact.cli import main
from reenact.faces import detect_in_file
from reenact.io.images import write_image
from reenact.io.video import iter_frames, probe_video

FRAMES = 12
UPPER_LIP, LOWER_LIP = 13, 14        # MediaPipe's inner-lip midpoints
NOSE_TIP = 1


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, astronaut):
    d = tmp_path_factory.mktemp("flags")
    write_image(d / "face.png", astronaut)
    # a wider picture than the face crop, so pasteback (picture size) and crop (crop size) differ
    wide = np.full((512, 704, 3), 128, np.uint8)
    wide[:, 96:608] = astronaut
    write_image(d / "wide.png", wide)
    # two faces side by side, the right one smaller (face index 1 = second largest)
    head = astronaut[30:250, 120:340]
    pair = np.full((300, 532, 3), 128, np.uint8)
    pair[:, :300] = cv2.resize(head, (300, 300), interpolation=cv2.INTER_AREA)
    pair[50:250, 332:] = cv2.resize(head, (200, 200), interpolation=cv2.INTER_AREA)
    write_image(d / "pair.png", pair)
    # the driving: the head rolls and slides right while a tone plays
    frames = [warp(astronaut, similarity(4 * np.sin(t / 2), 1.0, 3 * t, 0)) for t in range(FRAMES)]
    write_clip_with_tone(d / "drive.mp4", frames, seconds=FRAMES / 25)
    # the same head, shaken by +-8 degrees of random roll and +-3 px of random shift each frame (the
    # roll is head motion the output follows; the shift alone is camera shake an anchored head ignores)
    rng = np.random.default_rng(0)
    shaken = [warp(astronaut, similarity(rng.uniform(-8, 8), 1.0, *rng.uniform(-3, 3, 2))) for _ in range(FRAMES)]
    write_test_video(d / "jitter.mp4", shaken)
    (d / "no_assets").mkdir()
    return d


def run(capfd, inputs, tmp_path, *flags, source="face.png", driving="drive.mp4", output="out.mp4"):
    """(exit code, stderr, output path) of `reenact -s SOURCE -d DRIVING -o OUTPUT FLAGS...`.

    Without FLAME or diffusion weights (empty folders) and with a cache of the test's own.
    """
    out = tmp_path / output
    if not str(driving).startswith("preset:"):
        driving = inputs / driving
    argv = ["--source", inputs / source, "--driving", driving, "-o", out,
            "--set", f"paths.flame_dir={inputs / 'no_assets'}", "--set", f"paths.weights_dir={inputs / 'no_assets'}",
            "--set", f"paths.cache_dir={tmp_path / 'cache'}", *flags]
    code = main([str(a) for a in argv])
    return code, capfd.readouterr().err, out


def landmarks(path) -> np.ndarray:
    """(T, 478, 2) MediaPipe landmarks found on a written video, px."""
    return detect_in_file(path).landmarks[:, :, :2]


def mouth_opening(path) -> np.ndarray:
    lm = landmarks(path)
    return lm[:, LOWER_LIP, 1] - lm[:, UPPER_LIP, 1]


def one_error_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("reenact: error:"), err
    return lines[0]


# ---- engine and alignment mode ----------------------------------------------------------------

def test_engine_flag_overrides_the_configured_engine(capfd, inputs, tmp_path):
    # the config asks for diffusion, which cannot run without weights; --engine warp must win
    code, err, out = run(capfd, inputs, tmp_path, "--set", "run.engine=diffusion", "-q")
    assert code != 0 and "diffusion engine cannot run" in one_error_line(err)
    code, err, out = run(capfd, inputs, tmp_path, "--set", "run.engine=diffusion", "--engine", "warp", "-q")
    assert code == 0, err
    assert probe_video(out).frame_count == FRAMES
    assert "engine: warp" in (tmp_path / "out.mp4.yaml").read_text()
    # and the other way round: --engine diffusion is refused here, whatever the config says
    code, err, _ = run(capfd, inputs, tmp_path, "--engine", "diffusion", "-q", output="d.mp4")
    assert code != 0 and "diffusion engine cannot run" in one_error_line(err)
    assert not (tmp_path / "d.mp4").exists()


def test_absolute_works_for_the_mesh_and_relative_and_head_motion_override_the_config(capfd, inputs, tmp_path):
    # README: absolute is the driving's rotation as it is (with FLAME also its expression); the
    # mesh tracker has it too since issue 11
    code, err, out = run(capfd, inputs, tmp_path, "--absolute", "--head-motion", "follow", "-q")
    assert code == 0, err
    written = (tmp_path / "out.mp4.yaml").read_text()
    assert "mode: absolute" in written and "head_motion: follow" in written
    code, err, out = run(capfd, inputs, tmp_path, "--set", "align.mode=absolute", "--relative", "-q",
                         "--overwrite")
    assert code == 0, err
    assert probe_video(out).frame_count == FRAMES
    assert "mode: relative" in (tmp_path / "out.mp4.yaml").read_text()


# ---- motion: expression, pose, smoothing --------------------------------------------------------

def test_expression_scale_changes_how_wide_the_mouth_opens(capfd, inputs, tmp_path):
    # the talk preset opens the jaw one and a half times in 12 frames at 25 fps; MediaPipe on the
    # output measures the lip gap (it saturates on the drawn mouth interior above scale ~1.5)
    opening = {}
    for scale in ("0", "0.5", "1"):
        code, err, out = run(capfd, inputs, tmp_path, "--expression-scale", scale, "-q",
                             "--set", "run.preset_seconds=0.48", driving="preset:talk", output=f"e{scale}.mp4")
        assert code == 0, err
        gap = mouth_opening(out)
        opening[scale] = gap - gap[0]
    print("lip gap over the first frame's, px:", {k: np.round(v, 1) for k, v in opening.items()})
    # no expression: the mouth stays as it was (the preset's nod alone moves MediaPipe's lip-gap
    # reading by up to ~2.2 px; half the expression opens it by more than 6)
    assert np.abs(opening["0"]).max() < 3.0
    assert opening["0.5"].max() > 6.0
    assert opening["1"].mean() > 1.15 * opening["0.5"].mean() > 1.15 * 3.0


def test_pose_scale_changes_how_far_the_head_moves(capfd, inputs, tmp_path):
    nose = landmarks(inputs / "drive.mp4")[:, NOSE_TIP, 0]
    travel = {"driving": nose[-1] - nose[0]}
    # --head-motion follow (unsmoothed, unbounded here) carries the slide; the default anchors it
    follow = ["--head-motion", "follow", "--set", "align.follow.smoothing=0", "--set", "align.follow.max_shift=10"]
    for scale in ("0.5", "1", "anchored"):
        flags = [] if scale == "anchored" else ["--pose-scale", scale, *follow]
        code, err, out = run(capfd, inputs, tmp_path, *flags, "-q", output=f"p{scale}.mp4")
        assert code == 0, err
        nose = landmarks(out)[:, NOSE_TIP, 0]
        travel[scale] = nose[-1] - nose[0]
    print(f"nose travel, px: {travel}")
    # the driving head slides 3 px a frame (and rolls): about 40 px over the clip
    assert travel["driving"] > 30
    assert abs(travel["anchored"]) < 0.25 * travel["driving"]
    assert travel["1"] == pytest.approx(travel["driving"], abs=3)
    assert travel["0.5"] == pytest.approx(travel["driving"] / 2, abs=3)


def test_smooth_removes_frame_to_frame_jitter(capfd, inputs, tmp_path):
    jitter = {}
    for sigma in (None, "2"):
        flags = ["-q"] + (["--smooth", sigma] if sigma else [])
        code, err, out = run(capfd, inputs, tmp_path, *flags, driving="jitter.mp4", output=f"s{sigma}.mp4")
        assert code == 0, err
        points = landmarks(out)[:, :468]
        jitter[sigma] = float(np.linalg.norm(np.diff(points, axis=0), axis=-1).mean())
    print(f"mean frame-to-frame face motion, px: {jitter}")
    # the driving's roll jitter reaches the output unsmoothed (less the mesh tracker's own 1-frame
    # pose smoothing: about 1.2 px of landmark motion per frame)
    assert jitter[None] > 0.8
    assert jitter["2"] < 0.4 * jitter[None]


# ---- what is written: frames, rate, size, audio --------------------------------------------------

def test_max_frames_limits_the_output_length(capfd, inputs, tmp_path):
    code, err, out = run(capfd, inputs, tmp_path, "--max-frames", "5", "-q")
    assert code == 0, err
    info = probe_video(out)
    assert info.frame_count == 5 and info.fps == pytest.approx(25)


def test_max_frames_limits_a_preset_too(capfd, inputs, tmp_path):
    code, err, out = run(capfd, inputs, tmp_path, "--max-frames", "5", "-q", "--set", "run.preset_seconds=0.48",
                         driving="preset:blink")
    assert code == 0, err
    assert probe_video(out).frame_count == 5


def test_fps_sets_the_stream_rate_and_keeps_the_clips_time(capfd, inputs, tmp_path):
    """12 frames at 25 fps last 0.48 s; at 10 fps they are 5 frames, each the clip's frame of its
    moment (before, all 12 played over 1.2 s, out of step with the clip's sound)."""
    code, err, out = run(capfd, inputs, tmp_path, "--fps", "10", "-q")
    assert code == 0, err
    info = probe_video(out)
    assert info.fps == pytest.approx(10) and info.frame_count == round(FRAMES / 25 * 10)
    assert info.duration == pytest.approx(FRAMES / 25, abs=0.11)


def test_no_pasteback_writes_the_face_crop(capfd, inputs, tmp_path):
    code, err, out = run(capfd, inputs, tmp_path, "-q", source="wide.png", output="full.mp4")
    assert code == 0, err
    full = probe_video(out)
    assert (full.width, full.height) == (704, 512)
    code, err, out = run(capfd, inputs, tmp_path, "--no-pasteback", "-q", source="wide.png", output="crop.mp4")
    assert code == 0, err
    crop = probe_video(out)
    assert (crop.width, crop.height) == (512, 512)
    # the crop is the source's face crop: the face in it is the pasted-back face seen through the
    # source's crop transform (about 3x: the portrait's face is small)
    crop_from_picture = detect_in_file(inputs / "wide.png").crop_transforms[0]
    in_picture = landmarks(tmp_path / "full.mp4")[:, NOSE_TIP]
    expected = in_picture @ crop_from_picture[:, :2].T + crop_from_picture[:, 2]
    got = landmarks(out)[:, NOSE_TIP]
    # MediaPipe reads both through H.264, one of them 3x magnified: 2.7 px with the writer's earlier
    # tuning, 4.0 with its grain-keeping one (io/writer.py); a wrong crop is tens of pixels off
    assert np.abs(got - expected).max() < 5.0


def test_no_audio_drops_the_driving_audio(capfd, inputs, tmp_path):
    assert probe_video(inputs / "drive.mp4").has_audio
    code, err, out = run(capfd, inputs, tmp_path, "-q", output="with.mp4")
    assert code == 0, err
    assert probe_video(out).has_audio
    code, err, out = run(capfd, inputs, tmp_path, "--no-audio", "-q", output="without.mp4")
    assert code == 0, err
    assert not probe_video(out).has_audio and probe_video(out).frame_count == FRAMES


def test_an_animated_gif_out_plays_every_frame_and_says_its_sound_is_left_out(capfd, inputs, tmp_path):
    """`-o meme.gif` from a clip with sound: an animated GIF of every frame, and one note that the
    GIF holds no sound (the mp4 keeps it: the test above)."""
    from PIL import Image

    code, err, out = run(capfd, inputs, tmp_path, output="meme.gif")
    assert code == 0, err
    assert "meme.gif holds no sound" in err
    with Image.open(out) as picture:
        assert picture.format == "GIF" and picture.n_frames == FRAMES
    assert len(list(iter_frames(out))) == FRAMES


def test_no_cache_leaves_the_cache_untouched_and_retracks(capfd, inputs, tmp_path):
    cache = tmp_path / "cache"
    code, err, _ = run(capfd, inputs, tmp_path, "--no-cache", output="a.mp4")
    assert code == 0, err
    assert not cache.exists() or not any(cache.iterdir())
    code, err, _ = run(capfd, inputs, tmp_path, output="b.mp4")
    assert code == 0 and "reused from cache" not in err
    entries = sorted(p.name for p in cache.iterdir())
    assert entries and all(p.endswith(".npz") for p in entries)
    code, err, _ = run(capfd, inputs, tmp_path, output="c.mp4")
    assert code == 0 and "reused from cache" in err
    code, err, _ = run(capfd, inputs, tmp_path, "--no-cache", output="d.mp4")
    assert code == 0 and "reused from cache" not in err and "landmarks" in err   # tracked again
    assert sorted(p.name for p in cache.iterdir()) == entries


def test_face_index_picks_which_face_animates(capfd, inputs, tmp_path):
    change = {}
    for index in (None, "1"):
        flags = ["-q"] + (["--face-index", index] if index else [])
        code, err, out = run(capfd, inputs, tmp_path, *flags, "--set", "run.preset_seconds=0.48",
                             source="pair.png", driving="preset:talk", output=f"f{index}.mp4")
        assert code == 0, err
        frames = np.stack(list(iter_frames(out))).astype(np.float32)
        moved = np.abs(frames - frames[0]).mean(axis=(0, 3))     # mean change per pixel over the clip
        change[index] = (float(moved[:, :300].mean()), float(moved[:, 332:].mean()))
    print(f"mean pixel change (big face, small face): {change}")
    # a still face changes only by the encoder's noise (io/writer.py's tuning re-codes still texture
    # by 0.06-0.16 levels on average here)
    big, small = change[None]
    assert big > 2.0 and small < 0.3           # default: the largest face talks, the other is still
    big, small = change["1"]
    assert small > 2.0 and big < 0.3           # --face-index 1: the second largest does


def test_face_index_picks_the_source_face_for_a_one_face_driving_video(capfd, inputs, tmp_path):
    code, err, out = run(capfd, inputs, tmp_path, "--face-index", "1", "-q", source="pair.png")
    assert code == 0, err
    frames = np.stack(list(iter_frames(out))).astype(np.float32)
    moved = np.abs(frames - frames[0]).mean(axis=(0, 3))
    # the small face's box changes (1.97 levels on average: the hair around it no longer turns with
    # the head) and the big face's does not change at all
    assert moved[:, 332:].mean() > 1.5 and moved[:, :300].mean() < 0.2


# ---- run control: overwrite, quiet, config -------------------------------------------------------

def test_overwrite_replaces_an_existing_output(capfd, inputs, tmp_path):
    (tmp_path / "out.mp4").write_bytes(b"mine")
    code, err, out = run(capfd, inputs, tmp_path)
    assert code != 0 and "--overwrite" in one_error_line(err)
    assert out.read_bytes() == b"mine"
    code, err, out = run(capfd, inputs, tmp_path, "--overwrite", "-q")
    assert code == 0, err
    assert probe_video(out).frame_count == FRAMES


def test_quiet_prints_nothing(capfd, inputs, tmp_path):
    code, err, _ = run(capfd, inputs, tmp_path, output="loud.mp4")
    assert code == 0 and "wrote" in err and "timings" in err
    code, err, out = run(capfd, inputs, tmp_path, "--quiet", output="quiet.mp4")
    assert code == 0 and err == ""
    assert probe_video(out).frame_count == FRAMES


def test_config_file_and_set_change_the_output(capfd, inputs, tmp_path):
    config = tmp_path / "short.yaml"
    config.write_text("run:\n  max_frames: 4\nfaces:\n  crop_size: 256\n")
    code, err, out = run(capfd, inputs, tmp_path, "--config", config, "--no-pasteback", "-q", output="a.mp4")
    assert code == 0, err
    info = probe_video(out)
    assert (info.frame_count, info.width, info.height) == (4, 256, 256)
    # --set wins over the file
    code, err, out = run(capfd, inputs, tmp_path, "--config", config, "--set", "run.max_frames=7",
                         "--set", "faces.crop_size=320", "--no-pasteback", "-q", output="b.mp4")
    assert code == 0, err
    info = probe_video(out)
    assert (info.frame_count, info.width, info.height) == (7, 320, 320)
    assert "max_frames: 7" in (tmp_path / "b.mp4.yaml").read_text()
