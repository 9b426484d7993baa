"""The product as a user runs it: API, CLI, presets, stills, caching, audio, pasteback."""

import logging

import numpy as np
import pytest

from portrait_helpers import SHARED_DATA, shared_data, similarity, warp, write_clip_with_tone
from reenact import Reenactor, reenact
from reenact.cli import main
from reenact.faces import detect_in_file
from reenact.io.images import read_image, write_image
from reenact.io.video import iter_frames, probe_video


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, astronaut):
    d = tmp_path_factory.mktemp("e2e")
    write_image(d / "face.png", astronaut)
    return d


@pytest.fixture(scope="module")
def isolated_cache(tmp_path_factory):
    return [f"paths.cache_dir={tmp_path_factory.mktemp('cache')}"]


@pytest.fixture(scope="module")
def talking_clip(workdir, astronaut):
    """The astronaut turning slightly while a 440 Hz tone plays: a driving clip with audio."""
    frames = (warp(astronaut, similarity(4 * np.sin(t / 3), 1.0, 3 * np.sin(t / 4), 0)) for t in range(20))
    return write_clip_with_tone(workdir / "drive.mp4", frames, seconds=1.0, amplitude=0.2)


def test_api_runs_a_preset_and_reports_stages(workdir, isolated_cache, astronaut):
    result = Reenactor(engine="warp", overrides=isolated_cache).run(
        workdir / "face.png", "preset:talk", workdir / "talk.mp4", preset_seconds=2)
    assert result.frames == 50 and result.fps == 25 and result.engine == "warp" and result.backend == "mesh"
    assert set(result.timings) >= {"faces", "tracking", "align", "generate", "write"}
    info = probe_video(result.output)
    assert (info.width, info.height, info.frame_count) == (512, 512, 50)
    assert result.config_path.read_text().count("engine: warp") == 1
    frames = list(iter_frames(result.output))
    # the talk preset opens the mouth: MediaPipe on the output sees jawOpen rise and fall
    jaw = detect_in_file(result.output).blendshapes[:, 25]
    assert jaw.max() > jaw[0] + 0.05
    # far from the face nothing changes (only video coding noise)
    corner = (slice(400, 512), slice(0, 110))
    rmse = np.sqrt(np.mean((frames[20][corner].astype(float) - astronaut[corner]) ** 2)) / 255
    assert rmse < 0.02


def test_function_form_refuses_to_replace_inputs_or_outputs(workdir):
    from reenact.errors import OutputError

    with pytest.raises(OutputError, match="same file as an input"):
        reenact(workdir / "face.png", "preset:blink", workdir / "face.png", overwrite=True)
    (workdir / "taken.mp4").write_bytes(b"mine")
    with pytest.raises(OutputError, match="--overwrite"):
        reenact(workdir / "face.png", "preset:blink", workdir / "taken.mp4")
    assert (workdir / "taken.mp4").read_bytes() == b"mine"


def test_video_driving_keeps_audio_and_caches_the_track(workdir, talking_clip, isolated_cache, caplog):
    r = Reenactor(engine="warp", overrides=isolated_cache)
    first = r.run(workdir / "face.png", talking_clip, workdir / "v1.mp4")
    assert first.frames == 20 and probe_video(first.output).has_audio
    with caplog.at_level(logging.INFO, logger="reenact"):
        second = r.run(workdir / "face.png", talking_clip, workdir / "v2.mp4", audio=False)
    assert "reused from cache" in caplog.text
    assert not probe_video(second.output).has_audio
    a = list(iter_frames(first.output))
    b = list(iter_frames(second.output))
    assert np.abs(a[10].astype(float) - b[10]).mean() < 0.5  # same track, same frames


def test_head_motion_of_the_driving_reaches_the_output(workdir, talking_clip, isolated_cache):
    # the clip moves the whole picture (camera-like), so the head follows only with head_motion=follow
    overrides = [*isolated_cache, "align.follow.smoothing=0", "align.follow.max_shift=10", "align.follow.max_scale=10"]
    out = Reenactor(engine="warp", overrides=overrides).run(
        workdir / "face.png", talking_clip, workdir / "motion.mp4", overwrite=True, head_motion="follow")
    drv = detect_in_file(talking_clip).landmarks[:, :, :2]
    got = detect_in_file(out.output).landmarks[:, :, :2]
    # same source as driving person: the output should follow the driving's landmarks closely
    err = np.linalg.norm(drv - got, axis=-1).mean(-1)
    assert np.median(err) < 3.0


def test_still_image_driving_and_crop_output(workdir, astronaut, isolated_cache):
    tilted = warp(astronaut, similarity(8, 1.0, 0, 0))
    write_image(workdir / "tilt.png", tilted)
    r = Reenactor(engine="warp", overrides=isolated_cache)
    still = r.run(workdir / "face.png", workdir / "tilt.png", workdir / "still.png")
    out = read_image(still.output)
    assert out.shape == astronaut.shape
    got = detect_in_file(still.output).landmarks[0, :, :2]
    want = detect_in_file(workdir / "tilt.png").landmarks[0, :, :2]
    # the still's tilt arrives; its position in its picture does not (the head stays on the body)
    centred = lambda p: p - p.mean(0)
    assert np.linalg.norm(centred(got) - centred(want), axis=-1).mean() < 3.0
    # a video out of a still: one second easing from the source into the still's expression and pose
    eased = r.run(workdir / "face.png", workdir / "tilt.png", workdir / "still.mp4")
    assert eased.frames == 25 and probe_video(eased.output).frame_count == 25
    track = detect_in_file(eased.output)
    assert np.linalg.norm(track.landmarks[0, :, :2] - detect_in_file(workdir / "face.png").landmarks[0, :, :2],
                          axis=-1).mean() < 2.0
    assert np.linalg.norm(centred(track.landmarks[-1, :, :2]) - centred(want), axis=-1).mean() < 3.0
    crop = r.run(workdir / "face.png", "preset:nod", workdir / "crop.mp4", pasteback=False, preset_seconds=1)
    info = probe_video(crop.output)
    assert (info.width, info.height) == (512, 512) and info.frame_count == 25


def test_a_still_driving_picture_is_shown_to_the_generator_for_every_frame(workdir, astronaut, isolated_cache,
                                                                         monkeypatch):
    """The warp engine lays a mouth's interior out as the driving picture shows it (teeth, tongue,
    cavity); a still driving image gave it no picture, so a grin came out a drawn dark slot. Now the
    still stands for every frame easing into its expression, with its own landmarks and how far each
    frame has come (its grin's teeth showed in a source's parted lips from the first frame)."""
    from reenact.generate.warp import WarpGenerator

    tilted = warp(astronaut, similarity(8, 1.0, 0, 0))
    write_image(workdir / "tilt2.png", tilted)
    seen = []
    frames_of = WarpGenerator.frames

    def spy(self, context, aligned, *args, **kwargs):
        view = context.driving
        seen.append((len(aligned), view, None if view is None else list(view.frames())))
        return frames_of(self, context, aligned, *args, **kwargs)

    monkeypatch.setattr(WarpGenerator, "frames", spy)
    r = Reenactor(engine="warp", overrides=isolated_cache)
    r.run(workdir / "face.png", workdir / "tilt2.png", workdir / "still2.mp4")
    n, view, pictures = seen[-1]
    assert n == 25 and view is not None and len(pictures) == n and len(view.landmarks) == n
    assert all(picture is pictures[0] for picture in pictures)    # one picture, read once
    assert all(np.array_equal(picture, tilted) for picture in pictures) and view.mouth_seen.all()
    want = detect_in_file(workdir / "tilt2.png").landmarks[0]
    assert np.abs(view.landmarks[-1] - want).max() < 1e-3
    # each frame as far into the still's expression as its motion is: the source's own face first
    assert len(view.arrival) == n and view.arrival[0] == 0.0 and view.arrival[-1] == 1.0
    assert (np.diff(view.arrival) > 0).all()
    r.run(workdir / "face.png", "preset:nod", workdir / "nod2.mp4", preset_seconds=1)
    assert seen[-1][1] is None                                  # a preset has no pictures


@shared_data
def test_a_still_grin_shows_teeth(tmp_path):
    """Diana (lips barely parted) driven by a still of d18's grin (frame 115: 0.73 of its opening
    teeth): the drawn interior gave a dark slot over a grey band (0.20 teeth); laid out from the
    still, 0.78."""
    from reenact.faces import detect_faces
    from reenact.generate.warp_mouth import teeth_shown

    grin = next(f for t, f in enumerate(iter_frames(SHARED_DATA / "driving/d18.mp4")) if t == 115)
    write_image(tmp_path / "grin.png", grin)
    result = reenact(SHARED_DATA / "source/s1.jpg", tmp_path / "grin.png", tmp_path / "out.png", engine="warp",
                     cache=False)
    out = read_image(result.output)
    assert teeth_shown(out, detect_faces([out], video=False).landmarks[0]) > 0.5


def test_a_very_large_source_picture_is_scaled_to_the_output_limit_first(workdir, astronaut, isolated_cache):
    """A big photo (here 1536x1024, the limit set to 0.4 MP to keep it quick) becomes a video of at
    most run.max_output_megapixels, aspect kept, the face animated in it (a 24 MP photo gave a
    6000x4000 video at 2 frames/s and 3.3 GB before)."""
    big = np.full((1024, 1536, 3), 120, np.uint8)
    big[256:768, 512:1024] = astronaut
    write_image(workdir / "big.png", big)
    r = Reenactor(engine="warp", overrides=[*isolated_cache, "run.max_output_megapixels=0.4"])
    result = r.run(workdir / "big.png", "preset:talk", workdir / "big.mp4", preset_seconds=1)
    info = probe_video(result.output)
    assert info.width * info.height <= 0.4e6 and abs(info.width / info.height - 1.5) < 0.01
    frames = list(iter_frames(result.output))
    scale = info.width / 1536
    x0, y0, side = int(512 * scale), int(256 * scale), int(512 * scale)
    face = lambda f: f[y0:y0 + side, x0:x0 + side].astype(float)
    assert np.abs(face(frames[12]) - face(frames[0])).mean() > 1.0          # the talk preset moves the face


def test_cli_main_command_and_demo(workdir, tmp_path, capsys, isolated_cache):
    code = main(["--source", str(workdir / "face.png"), "--driving", "preset:smile", "-o", str(tmp_path / "s.mp4"),
                 "--engine", "warp", "-q", "--set", isolated_cache[0], "--set", "run.preset_seconds=1"])
    assert code == 0 and probe_video(tmp_path / "s.mp4").frame_count == 25
    code = main(["demo", "-o", str(tmp_path / "demo.mp4"), "-q", "--set", isolated_cache[0],
                 "--set", "run.preset_seconds=1"])
    out = capsys.readouterr().out
    assert code == 0 and "demo.mp4" in out and probe_video(tmp_path / "demo.mp4").frame_count == 25
    # absolute (the driving's rotation as it is, the head on the source's body) works for the mesh too
    code = main(["--source", str(workdir / "face.png"), "--driving", "preset:smile", "-o", str(tmp_path / "a.mp4"),
                 "--absolute", "-q", "--engine", "warp", "--set", isolated_cache[0], "--set", "run.preset_seconds=1"])
    assert code == 0 and probe_video(tmp_path / "a.mp4").frame_count == 25


def _angles(track):
    from scipy.spatial.transform import Rotation

    r = track.transforms[:, :3, :3]
    r = r / np.cbrt(np.linalg.det(r))[:, None, None]
    return Rotation.from_matrix(r).as_euler("YXZ", degrees=True)


@shared_data
@pytest.mark.slow
@pytest.mark.parametrize("clip, source", [("d18", "s12"), ("d11", "s1")])
def test_independent_check_on_real_clips(tmp_path, clip, source):
    """MediaPipe on the output follows the driving: jawOpen correlates, head angles follow, background kept."""
    driving = SHARED_DATA / "driving" / f"{clip}.mp4"
    src = SHARED_DATA / "source" / f"{source}.jpg"
    n = 120
    result = Reenactor(engine="warp", overrides=[f"paths.cache_dir={tmp_path / 'cache'}"]).run(
        src, driving, tmp_path / "out.mp4", max_frames=n)
    d = detect_in_file(driving, max_frames=n)
    o = detect_in_file(result.output, max_frames=n)
    r_jaw = np.corrcoef(d.blendshapes[:, 25], o.blendshapes[:, 25])[0, 1]
    assert r_jaw >= 0.8, r_jaw
    ad, ao = _angles(d), _angles(o)
    for axis in (0, 1):  # yaw, pitch changes since the first frame
        diff = (ad[:, axis] - ad[0, axis]) - (ao[:, axis] - ao[0, axis])
        assert np.median(np.abs(diff)) <= 3.0, (axis, np.median(np.abs(diff)))
    # background: everything outside the head, taken as the face oval scaled 1.8x about its centre
    # (hair, ears and neck move with the head)
    import cv2

    from reenact.faces.topology import contour

    image = read_image(src)
    oval = detect_in_file(src).landmarks[0, list(contour("face_oval")), :2]
    head_region = oval.mean(0) + 1.8 * (oval - oval.mean(0))
    head = np.zeros(image.shape[:2], np.uint8)
    cv2.fillConvexPoly(head, cv2.convexHull(head_region.astype(np.int32)), 1)
    outside = head == 0
    for i, frame in enumerate(iter_frames(result.output)):
        if i % 30 == 0:
            frame = frame[:image.shape[0], :image.shape[1]]
            rmse = np.sqrt(np.mean((frame[outside].astype(float) - image[outside]) ** 2)) / 255
            assert rmse <= 0.02, (i, rmse)


@shared_data
@pytest.mark.slow
def test_a_cut_to_another_person_drives_the_source_as_that_person_alone_would(tmp_path):
    """d0 for 60 frames, then a cut to d18 (another man, another face): after the cut the output
    follows d18 as a run on d18 alone does (the identity change is not taken for an expression):
    landmarks within 0.05 inter-ocular distances (measured: median 0.018, max 0.04)."""
    import cv2

    from portrait_helpers import write_test_video

    first = list(iter_frames(SHARED_DATA / "driving" / "d0.mp4", max_frames=60))
    size = first[0].shape[1], first[0].shape[0]
    second = [cv2.resize(f, size) for f in iter_frames(SHARED_DATA / "driving" / "d18.mp4", max_frames=60)]
    cut = write_test_video(tmp_path / "cut.mp4", first + second)
    alone = write_test_video(tmp_path / "alone.mp4", second)
    src = SHARED_DATA / "source" / "s1.jpg"
    job = Reenactor(engine="warp", overrides=[f"paths.cache_dir={tmp_path / 'cache'}"])
    after_cut = detect_in_file(job.run(src, cut, tmp_path / "cut_out.mp4").output).landmarks[60:, :, :2]
    own = detect_in_file(job.run(src, alone, tmp_path / "alone_out.mp4").output).landmarks[:, :, :2]
    iod = np.linalg.norm(own[0, 468] - own[0, 473])
    apart = np.linalg.norm(after_cut - own, axis=-1).mean(-1) / iod
    assert len(apart) == 60 and apart.max() < 0.05, (np.median(apart), apart.max())


@shared_data
@pytest.mark.slow
def test_self_reenactment_mouth_takes_the_driving_frames_own_layout(tmp_path):
    """d11 driving its own first frame (closed mouth): the opened mouth's teeth, tongue and shadows
    come from each driving frame, so the output's mouth is nearer the real one than the drawn
    interior's (the judge's self-reenactment measure: grey levels in 1.2x the lips' hull, driving
    frame aligned on the rigid landmarks; measured on these 80 frames: 8.8 against 12.1)."""
    import cv2

    from reenact.io.images import write_image

    driving = SHARED_DATA / "driving" / "d11.mp4"
    first = tmp_path / "first.png"
    write_image(first, next(iter(iter_frames(driving, max_frames=1))))
    n = 80
    d = detect_in_file(driving, max_frames=n)
    real = list(iter_frames(driving, max_frames=n))
    rigid = [168, 6, 197, 195, 5, 4, 33, 133, 263, 362, 234, 454, 127, 356]
    lips = [61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 409, 270, 269, 267, 0, 37, 39, 40, 185]

    def mouth_error(layout: str) -> float:
        out = Reenactor(engine="warp", overrides=[f"paths.cache_dir={tmp_path / 'cache'}",
                                                  f"warp.interior_layout={layout}"]).run(
            first, driving, tmp_path / f"{layout}.mp4", max_frames=n, audio=False).output
        o = detect_in_file(out, max_frames=n)
        errors = []
        for t, frame in enumerate(iter_frames(out, max_frames=n)):
            if not (o.detected[t] and d.detected[t]):
                continue
            m, _ = cv2.estimateAffinePartial2D(d.landmarks[t, rigid, :2].astype(np.float32),
                                               o.landmarks[t, rigid, :2].astype(np.float32))
            truth = cv2.warpAffine(real[t], m, (frame.shape[1], frame.shape[0]))
            pts = o.landmarks[t, lips, :2]
            hull = cv2.convexHull((pts.mean(0) + 1.2 * (pts - pts.mean(0))).astype(np.int32))
            mask = np.zeros(frame.shape[:2], np.uint8)
            cv2.fillConvexPoly(mask, hull, 1)
            grey = [cv2.cvtColor(x, cv2.COLOR_RGB2GRAY).astype(float) for x in (frame, truth)]
            errors.append(np.abs(grey[0] - grey[1])[mask > 0].mean())
        return float(np.median(errors))

    driven, drawn = mouth_error("driving"), mouth_error("drawn")
    assert driven < 10.0 and driven < drawn - 2.0, (driven, drawn)


def test_a_variable_frame_rate_clip_moves_the_source_at_its_own_moments(workdir, astronaut, isolated_cache):
    """A phone's clip whose frames come 25 a second, then 10 (pts in ms): played frame by frame at
    its average rate (19 fps), its frames came up to 0.3 s late, and the head's roll was 2.3 degrees
    (median) from the clip's at the same moment. Each output frame now shows the head as the clip
    shows it at that moment: 0.3 degrees."""
    from portrait_helpers import write_tagged_clip

    times = np.r_[np.arange(25) * 40, 1000 + np.arange(10) * 100]             # ms
    roll = lambda t: 12.0 * np.sin(2 * np.pi * t / 2.0)                        # degrees at t seconds
    clip = write_tagged_clip(workdir / "vfr.mp4", (warp(astronaut, similarity(roll(t / 1000), 1.0, 0, 0))
                                                   for t in times), pts=list(times))
    out = Reenactor(engine="warp", overrides=isolated_cache).run(workdir / "face.png", clip, workdir / "vfr_out.mp4",
                                                                 overwrite=True)

    def eye_line(track):
        d = track.landmarks[:, 263, :2] - track.landmarks[:, 33, :2]
        return np.degrees(np.arctan2(d[:, 1], d[:, 0]))

    driving = detect_in_file(clip)
    shown = eye_line(detect_in_file(out.output))
    moments = np.arange(len(shown)) / out.fps
    expected = np.interp(moments, driving.times, eye_line(driving))
    assert abs(len(shown) / out.fps - 2.0) < 0.1                 # as long as the clip
    assert np.median(np.abs(shown - expected)) < 1.0
