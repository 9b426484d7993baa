import numpy as np
import pytest

from reenact.errors import InputError
from reenact.faces import detect_faces
from reenact.faces.presets import PRESETS, deform, parse_preset, preset_track, script


@pytest.fixture(scope="module")
def source(astronaut):
    return detect_faces([astronaut], video=False)


def eye_opening(p, upper=159, lower=145):
    return np.linalg.norm(p[upper, :2] - p[lower, :2])


def test_parse_preset_names():
    assert parse_preset("preset:nod") == "nod" and parse_preset("clip.mp4") is None
    with pytest.raises(InputError, match="preset:talk"):
        parse_preset("preset:dance")


@pytest.mark.parametrize("name", PRESETS)
def test_presets_start_neutral_and_move(source, name):
    track = preset_track(name, source, fps=25, seconds=4)
    assert len(track) == 100 and track.fps == 25 and track.detected.all()
    first = track.landmarks[0]
    neutral = deform(source.landmarks[0], 0, 0, 0, 0, 0, 0)
    assert np.abs(first - neutral).max() < 1e-3  # every preset starts from the source's own face
    motion = np.abs(track.landmarks - first).max()
    assert motion > 3.0  # something visibly moves (pixels)
    assert np.all(track.crop_transforms == track.crop_transforms[0])  # one still camera


def test_blink_closes_the_eyes_and_talk_opens_the_jaw(source):
    blink = preset_track("blink", source)
    openings = np.array([eye_opening(p) for p in blink.landmarks])
    assert openings.min() < 0.25 * openings[0]
    talk = preset_track("talk", source)
    jaw = np.array([np.linalg.norm(p[14, :2] - p[13, :2]) for p in talk.landmarks])
    assert jaw.max() > jaw[0] + 10
    assert np.corrcoef(jaw, script("talk", 100, 25).jaw)[0, 1] > 0.95


def test_nod_pitches_the_head_down(source):
    nod = preset_track("nod", source)
    pitch = script("nod", 100, 25).pitch
    k = int(pitch.argmax())
    # nose tip moves down in the image relative to the forehead when the head tips down
    drop = lambda p: (p[1, 1] - p[10, 1])  # noqa: E731
    assert drop(nod.landmarks[k]) < drop(nod.landmarks[0]) - 2


def test_the_jaw_opens_the_mouth_round_not_as_a_slot_or_a_v(source):
    """The lower lip's middle drops nearly as far as the chin and its sides less, a round opening;
    by depth below the lip line alone a closed mouth opened as a slot (every inner point alike) and
    the demo's smile as a V (its sides 0.4 of its middle's drop)."""
    base = source.landmarks[0]
    opened = deform(base, 0, 0, 0, 1.0, 0, 0)
    drop = (opened - base)[:, 1]
    middle, side = drop[14], 0.5 * (drop[178] + drop[402])     # inner lower lip: middle, half way out
    chin = drop[152]
    assert middle > 0.6 * chin
    assert 0.7 * middle < side < middle
    # a closed mouth too: its inner lower lip, on the lip line, dropped 0.2 of the chin's alike
    closed = base.copy()
    closed[[95, 88, 178, 87, 14, 317, 402, 318, 324], 1] = closed[[191, 80, 81, 82, 13, 312, 311, 310, 415], 1]
    drop = (deform(closed, 0, 0, 0, 1.0, 0, 0) - closed)[:, 1]
    assert drop[14] > 0.5 * drop[152] > drop[78] + 0.2 * drop[152]  # the corners stay
