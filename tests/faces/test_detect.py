import dataclasses
import logging

import numpy as np
import pytest

from portrait_helpers import similarity, warp
from reenact.errors import InputError, NoFaceError
from reenact.faces import FaceOptions, FaceTrack, detect_faces
from reenact.faces.crop import paste_from_crop, warp_to_crop


@pytest.fixture(scope="module")
def moving_portrait(astronaut):
    """The astronaut moved, rotated and scaled by known similarities, frame 0 untouched."""
    rng = np.random.default_rng(0)
    params = [(0, 1, 0, 0)] + [(rng.uniform(-20, 20), rng.uniform(0.8, 1.2), rng.uniform(-30, 30),
                                rng.uniform(-30, 30)) for _ in range(11)]
    transforms = [similarity(*p) for p in params]
    return [warp(astronaut, m) for m in transforms], transforms


@pytest.fixture(scope="module")
def moving_track(moving_portrait):
    frames, _ = moving_portrait
    return detect_faces(frames, fps=25)


def test_landmarks_follow_known_transforms_within_2px(moving_portrait, moving_track):
    _, transforms = moving_portrait
    base = moving_track.landmarks[0, :, :2]
    assert moving_track.landmarks.shape == (12, 478, 3) and moving_track.detected.all()
    for t, m in enumerate(transforms):
        expected = base @ m[:, :2].T + m[:, 2]
        err = np.linalg.norm(moving_track.landmarks[t, :, :2] - expected, axis=1)
        assert err.mean() < 2.0 and np.median(err) < 1.0, (t, err.mean())


def test_face_track_outputs_are_well_formed(moving_track):
    assert moving_track.blendshapes.shape == (12, 52)
    assert (moving_track.blendshapes >= 0).all() and (moving_track.blendshapes <= 1).all()
    rot = moving_track.transforms[:, :3, :3] / np.cbrt(np.linalg.det(moving_track.transforms[:, :3, :3]))[:, None, None]
    assert np.allclose(rot @ rot.transpose(0, 2, 1), np.eye(3), atol=1e-3)  # rotation (times a scale)
    assert moving_track.image_size == (512, 512) and moving_track.crop_size == 512


def test_crop_landmarks_match_detection_in_the_crop(moving_portrait, moving_track):
    frames, _ = moving_portrait
    crops = [warp_to_crop(f, moving_track.crop_transforms[t], 512) for t, f in enumerate(frames[:4])]
    assert all(len(detect_faces([c], video=False).landmarks) for c in crops)
    in_crop = detect_faces(crops, video=False, options=FaceOptions(crop_scale=2.0))
    mapped = moving_track.landmarks_in_crop()[:4]
    err = np.linalg.norm(in_crop.landmarks[..., :2] - mapped[..., :2], axis=-1)
    assert err.mean() < 2.0


def test_unsmoothed_crop_centres_the_face_at_a_fixed_size(moving_portrait):
    frames, _ = moving_portrait
    track = detect_faces(frames[:5], options=FaceOptions(box_smoothing=0, crop_scale=1.6))
    xy = track.landmarks_in_crop()[..., :2]
    lo, hi = xy.min(1), xy.max(1)
    assert np.abs((lo + hi) / 2 - 256).max() < 0.01
    assert np.abs((hi - lo).max(1) - 512 / 1.6).max() < 0.01


def test_paste_back_returns_crop_pixels_to_where_they_came_from(astronaut):
    m = np.array([[1.7, 0, -250], [0, 1.7, -100]], np.float32)  # zoom on the face
    crop = warp_to_crop(astronaut, m, 512)
    back = paste_from_crop(astronaut.shape[:2], crop, m)
    inside = (slice(80, 330), slice(160, 400))
    assert np.abs(back[inside].astype(float) - astronaut[inside]).mean() < 4.0
    # geometry: a single bright pixel lands within 1 px of its origin
    dot = np.zeros_like(astronaut)
    dot[200, 240] = 255
    crop = warp_to_crop(dot, m, 512)
    y, x = np.unravel_index(crop[..., 0].argmax(), crop.shape[:2])
    assert abs(x - (1.7 * 240 - 250)) <= 1 and abs(y - (1.7 * 200 - 100)) <= 1


def test_still_head_gives_still_crop(astronaut):
    rng = np.random.default_rng(1)
    frames = [np.clip(astronaut + rng.normal(0, 3, astronaut.shape), 0, 255).astype(np.uint8) for _ in range(20)]
    track = detect_faces(frames, fps=25)
    raw_jitter = np.diff(track.landmarks[:, :, :2], axis=0).std()
    box_jitter = np.abs(np.diff(track.boxes, axis=0)).max()
    assert box_jitter < 0.25, (box_jitter, raw_jitter)


def test_short_gaps_are_interpolated_and_reported(astronaut, caplog):
    blank = np.full_like(astronaut, 128)
    shifted = warp(astronaut, similarity(0, 1, 20, 0))
    frames = [astronaut, astronaut, blank, blank, shifted, shifted]
    with caplog.at_level(logging.WARNING, logger="reenact"):
        track = detect_faces(frames, fps=25)
    assert list(track.detected) == [True, True, False, False, True, True]
    a, b = track.landmarks[1], track.landmarks[4]
    assert np.allclose(track.landmarks[2], a + (b - a) / 3, atol=1e-3)
    assert np.allclose(track.landmarks[3], a + 2 * (b - a) / 3, atol=1e-3)
    assert "no face in 2 of 6 frames" in caplog.text


def test_a_face_seen_in_one_frame_amid_a_long_search_is_a_false_detection(astronaut, caplog):
    """A title sequence where the detector once mistakes a logo for a face, then the speaker: the
    lone frame must neither set the clip's pose nor slide into the speaker's first frames."""
    from reenact.faces.detect import brief_detections

    blank = np.full_like(astronaut, 128)
    elsewhere = warp(astronaut, similarity(25, 0.6, -120, 60))   # somewhere else, turned, smaller
    frames = [blank] * 3 + [elsewhere] + [blank] * 6 + [astronaut] * 8
    with caplog.at_level(logging.WARNING, logger="reenact"):
        track = detect_faces(frames, fps=25)
    assert not track.detected[:10].any() and track.detected[10:].all()
    np.testing.assert_allclose(track.landmarks[:10], np.repeat(track.landmarks[10:11], 10, 0))
    assert np.isnan(track.mouth[3]).all()
    assert "a face in only 1 scattered frame(s) (3)" in caplog.text
    # a clip whose face is never seen for long keeps what it has (nothing better to follow)
    flicker = np.array([1, 1, 0, 0, 1, 1, 0, 1], bool)
    assert not brief_detections(flicker, 5).any()
    np.testing.assert_array_equal(brief_detections(np.array([1, 0, 1, 1, 1, 1, 1, 0, 1, 1], bool), 5),
                                  [1, 0, 0, 0, 0, 0, 0, 0, 1, 1])
    # a face somewhere else from one frame to the next starts another run (frame 0 below)
    seen = np.ones(8, bool)
    np.testing.assert_array_equal(brief_detections(seen, 5, np.r_[False, True, np.zeros(6, bool)]),
                                  [1, 0, 0, 0, 0, 0, 0, 0])


def _square_face(x0: float, y0: float, side: float):
    from reenact.faces.landmarker import FaceDetection

    grid = np.random.default_rng(0).random((478, 3)) * (side, side, 0) + (x0, y0, 0)
    grid[:2, :2] = [(x0, y0), (x0 + side, y0 + side)]
    return FaceDetection(grid.astype(np.float32), np.zeros(52, np.float32), np.eye(4, dtype=np.float32))


def test_a_false_face_in_a_clips_first_frame_gives_way_to_the_small_real_one(monkeypatch, caplog):
    """A 3000 px landscape clip whose real face is too small for the whole-frame detector: the
    first frame's search also returned a larger false face (seen on a rocket picture), which was
    chosen and then never found again, and the real face was lost for the whole clip."""
    import reenact.faces.detect as detect

    real, false = (800.0, 700.0, 40.0), (100.0, 100.0, 200.0)

    class Stub:   # whole frame: both faces on the first frame only; a crop: the squares inside it, if big enough
        def __init__(self, video=False, **_):
            self.video, self.calls = video, 0

        def close(self):
            pass

        def detect(self, frame):
            if self.video:
                self.calls += 1
                return [_square_face(*false), _square_face(*real)] if self.calls == 1 else []
            x0, y0 = _origin(frame)
            h, w = frame.shape[:2]
            return [_square_face(x - x0, y - y0, s) for x, y, s in [real] if
                    x0 <= x and y0 <= y and x + s <= x0 + w and y + s <= y0 + h and s >= max(h, w) / 8]

    frames = [np.zeros((1000, 1000, 3), np.uint8) for _ in range(8)]
    base = frames

    def _origin(crop):   # where a crop of one of the frames starts (crops are views)
        for f in base:
            offset = crop.__array_interface__["data"][0] - f.__array_interface__["data"][0]
            if 0 <= offset < f.nbytes:
                row, col = divmod(offset, f.strides[0])
                return col // f.strides[1], row
        raise AssertionError("not a crop of a frame")

    monkeypatch.setattr(detect, "Landmarker", lambda max_faces=4, video=False, min_confidence=0.5: Stub(video))
    monkeypatch.setattr(detect, "face_visibility", lambda frame, points: ((1.0, 1.0), np.ones((2, 2), np.float32)))
    with caplog.at_level(logging.WARNING, logger="reenact"):
        track = detect.detect_faces(frames, fps=25)
    assert not track.detected[0] and track.detected[1:].all()
    np.testing.assert_allclose(track.landmarks[:, 1, :2], np.tile([real[0] + real[2], real[1] + real[2]], (8, 1)),
                               atol=1e-3)


def test_no_face_anywhere_is_a_clear_error():
    with pytest.raises(NoFaceError, match="no face found"):
        detect_faces([np.full((256, 256, 3), 90, np.uint8)] * 3, fps=25, source_name="blank.mp4")


def test_a_still_with_no_face_even_blurred_is_a_clear_error():
    rng = np.random.default_rng(0)
    with pytest.raises(NoFaceError, match="no face found in noise.png"):
        detect_faces([rng.integers(0, 256, (600, 800, 3)).astype(np.uint8)], video=False, source_name="noise.png")


def halftone(image: np.ndarray, cell: int) -> np.ndarray:
    """A black-on-white halftone print of `image`: one dot a cell, its area the cell's darkness."""
    import cv2

    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255
    h, w = grey.shape
    ys, xs = np.mgrid[0:h, 0:w]
    ink = 1 - cv2.resize(grey, (w // cell + 1, h // cell + 1), interpolation=cv2.INTER_AREA)[ys // cell, xs // cell]
    off_centre = np.hypot(xs % cell - cell / 2, ys % cell - cell / 2)
    return np.where(off_centre < np.sqrt(np.clip(ink, 0, 1)) * cell * 0.62, 0, 255).astype(np.uint8)[..., None].repeat(3, 2)


@pytest.mark.parametrize("cell", [4, 5])
def test_a_halftone_print_is_read_once_its_dots_merge(astronaut, cell, caplog):
    """A newspaper-like print of the astronaut: MediaPipe finds no face among its dots (before,
    "no face found"). Blurred, it does; the reads' median lies within 0.1 inter-ocular distances of
    the photo's own landmarks (0.07 and 0.09)."""
    photo = detect_faces([astronaut], video=False).landmarks[0, :, :2]
    iod = np.linalg.norm(photo[468] - photo[473])
    with caplog.at_level(logging.INFO, logger="reenact"):
        print_ = detect_faces([halftone(astronaut, cell)], video=False, source_name="print.png").landmarks[0, :, :2]
    assert "print.png: no face in the picture as it is; read from it blurred" in caplog.text
    assert np.linalg.norm(print_ - photo, axis=1).mean() < 0.1 * iod


def test_several_faces_pick_the_largest_and_say_so(astronaut, caplog):
    canvas = np.full((640, 1024, 3), 200, np.uint8)
    canvas[64:576, 0:512] = astronaut
    small = astronaut[::2, ::2]
    canvas[200:456, 700:956] = small
    with caplog.at_level(logging.WARNING, logger="reenact"):
        largest = detect_faces([canvas], video=False)
    assert "2 faces found; using the largest" in caplog.text
    assert largest.landmarks[0, :, 0].mean() < 512
    second = detect_faces([canvas], video=False, options=FaceOptions(face_index=1))
    assert second.landmarks[0, :, 0].mean() > 700
    with pytest.raises(InputError, match="face index 5"):
        detect_faces([canvas], video=False, options=FaceOptions(face_index=5))


def test_face_track_save_load_roundtrip(tmp_path, moving_track):
    moving_track.save(tmp_path / "t.npz")
    back = FaceTrack.load(tmp_path / "t.npz")
    for name in ("landmarks", "blendshapes", "transforms", "boxes", "crop_transforms", "detected"):
        assert np.array_equal(getattr(back, name), getattr(moving_track, name))
    assert (back.image_size, back.crop_size, back.fps) == (moving_track.image_size, 512, 25.0)
    # the mouth's visibility, measured while the frames were there, comes back too (NaN-equal)
    assert moving_track.mouth.shape == (len(moving_track), 2) and np.isfinite(moving_track.mouth).all()
    np.testing.assert_array_equal(back.mouth, moving_track.mouth)
    assert moving_track.eyes.shape == (len(moving_track), 2, 2) and np.isfinite(moving_track.eyes).all()
    np.testing.assert_array_equal(back.eyes, moving_track.eyes)
    # a track saved without it (a preset's, an older cache's) loads with none
    dataclasses.replace(moving_track, mouth=None).save(tmp_path / "old.npz")
    assert FaceTrack.load(tmp_path / "old.npz").mouth is None


@pytest.mark.parametrize("side", [400, 240])
def test_a_small_face_in_a_large_picture_is_found_where_it_is(astronaut, side):
    """A 4000x3000 photo with a 400 or 240 px portrait in it: the face is 8-13 px in the detector's
    full-frame thumbnail and 20-34 px in a half-side window; nothing was found before."""
    import cv2

    face = cv2.resize(astronaut, (side, side), interpolation=cv2.INTER_AREA)
    canvas = np.full((3000, 4000, 3), (96, 112, 128), np.uint8)
    x, y = 2700, 1900
    canvas[y:y + face.shape[0], x:x + face.shape[1]] = face
    found = detect_faces([canvas], video=False).landmarks[0]
    alone = detect_faces([face], video=False).landmarks[0]
    err = np.linalg.norm(found[:, :2] - (alone[:, :2] + (x, y)), axis=1)
    assert np.median(err) < 0.02 * face.shape[0]     # the same landmarks, in the big picture's pixels


def test_a_face_50_px_wide_in_a_1080p_jpeg_is_found_where_it_is(astronaut):
    """The astronaut's portrait 100 px square in a 1920x1080 JPEG: 8 px between her eyes. With
    270 px windows the last searched, none found her, and the whole picture blurred gave a face
    three times too large (its median landmark 45 px off); 128 px windows find her."""
    import cv2

    face = cv2.resize(astronaut, (100, 100), interpolation=cv2.INTER_AREA)
    canvas = np.full((1080, 1920, 3), (96, 112, 128), np.uint8)
    x, y = 1300, 600
    canvas[y:y + 100, x:x + 100] = face
    canvas = cv2.imdecode(cv2.imencode(".jpg", canvas, [cv2.IMWRITE_JPEG_QUALITY, 90])[1], cv2.IMREAD_COLOR)
    found = detect_faces([canvas], video=False).landmarks[0, :, :2]
    alone = detect_faces([astronaut], video=False).landmarks[0, :, :2] * (100 / 512) + (x, y)
    assert np.median(np.linalg.norm(found - alone, axis=1)) < 2.0


def test_a_small_face_after_a_title_card_is_found_within_a_few_frames(astronaut):
    """A 1080p clip: 5 frames of a plain title card, then the astronaut's portrait 100 px square
    (too small for the whole-frame detector and for the first windows). Searched deep only in the
    first three frames, the face was never found ("no face found"); now from frame 8 on, the next
    frame searched deep, and the previous face leads after it."""
    import cv2

    face = cv2.resize(astronaut, (100, 100), interpolation=cv2.INTER_AREA)
    title = np.full((1080, 1920, 3), (96, 112, 128), np.uint8)
    shown = title.copy()
    shown[600:700, 1300:1400] = face
    track = detect_faces([title] * 5 + [shown] * 8, fps=25.0, video=True)
    assert not track.detected[:8].any() and track.detected[8:].all()
    alone = detect_faces([astronaut], video=False).landmarks[0, :, :2] * (100 / 512) + (1300, 600)
    assert np.median(np.linalg.norm(track.landmarks[8, :, :2] - alone, axis=1)) < 2.0


def test_a_cut_from_a_close_up_to_a_wide_shot_finds_the_small_face_after_it(astronaut):
    """A 1080p clip: the astronaut 1000 px high for 6 frames, then cut to her 100 px square
    elsewhere. Once a clip had a face, only the previous face's neighbourhood and the largest
    windows were searched: every frame after the cut was faceless. Now a face lost for eight
    frames is searched for in every window (not at once: a face blurred or covered for a frame or
    two is back by itself), and the previous face leads after that."""
    import cv2

    close = np.full((1080, 1920, 3), (96, 112, 128), np.uint8)
    close[40:1040, 460:1460] = cv2.resize(astronaut, (1000, 1000), interpolation=cv2.INTER_AREA)
    wide = np.full((1080, 1920, 3), (96, 112, 128), np.uint8)
    wide[800:900, 200:300] = cv2.resize(astronaut, (100, 100), interpolation=cv2.INTER_AREA)
    track = detect_faces([close] * 6 + [wide] * 14, fps=25.0, video=True)
    assert track.detected[:6].all() and not track.detected[6:14].any() and track.detected[14:].all()
    alone = detect_faces([astronaut], video=False).landmarks[0, :, :2] * (100 / 512) + (200, 800)
    assert np.median(np.linalg.norm(track.landmarks[14, :, :2] - alone, axis=1)) < 2.0


def test_a_portrait_in_a_large_canvas_has_the_landmarks_it_has_alone(astronaut):
    """The astronaut in a canvas three times her picture's size (her blurred border around her):
    MediaPipe's detector places the landmark model's view from a thumbnail of the whole picture,
    and read from that loose view her landmarks lie 0.05 inter-ocular distances (mean) from her
    own picture's. Read again from a square around the face (`reread_span`), 0.002."""
    import cv2

    h, w = astronaut.shape[:2]
    canvas = cv2.GaussianBlur(cv2.copyMakeBorder(astronaut, h, h, w, w, cv2.BORDER_REPLICATE), (0, 0), 6)
    canvas[h:2 * h, w:2 * w] = astronaut
    alone = detect_faces([astronaut], video=False).landmarks[0, :, :2]
    iod = np.linalg.norm(alone[468] - alone[473])

    def error(options: FaceOptions) -> float:
        found = detect_faces([canvas], video=False, options=options).landmarks[0, :, :2] - (w, h)
        return float(np.linalg.norm(found - alone, axis=1).mean() / iod)

    assert error(FaceOptions()) < 0.01
    assert error(FaceOptions(reread_span=0.0)) > 0.03   # the single read this replaces
    # as a clip: MediaPipe places each later frame's view from the last one's landmarks, the first
    # frame's from its detector (0.12 inter-ocular distances off before it was read again)
    clip = detect_faces([canvas] * 3, fps=25.0).landmarks[:, :, :2] - (w, h)
    assert (np.linalg.norm(clip - alone, axis=2).mean(1) / iod < 0.015).all()


def test_a_small_face_in_a_4k_video_is_found_from_the_first_frame_on(astronaut):
    """A 3840x2160 clip with a 200 px face: 24 px in a half-side window, not found before; the
    first frames search deeper, then the previous face leads (every frame found)."""
    import cv2

    face = cv2.resize(astronaut, (200, 200), interpolation=cv2.INTER_AREA)
    frames = []
    for t in range(4):
        canvas = np.full((2160, 3840, 3), (96, 112, 128), np.uint8)
        x, y = 2900 + 6 * t, 1500
        canvas[y:y + 200, x:x + 200] = face
        frames.append(canvas)
    track = detect_faces(frames, fps=25.0, video=True)
    assert track.detected.all()
    centre = track.landmarks[:, :, :2].mean(1)
    np.testing.assert_allclose(centre[:, 0] - centre[0, 0], 6 * np.arange(4), atol=2.0)
    assert 2900 < centre[0, 0] < 3100 and 1500 < centre[0, 1] < 1700
