"""The track cache heals itself: a bad entry is dropped with one note and recomputed."""

import logging
from pathlib import Path

import numpy as np
import pytest

from reenact.cache import TrackCache
from reenact.faces import FaceTrack


def small_track(n=6):
    rng = np.random.default_rng(1)
    return FaceTrack(landmarks=rng.random((n, 478, 3), np.float32), blendshapes=rng.random((n, 52), np.float32),
                     transforms=np.tile(np.eye(4, dtype=np.float32), (n, 1, 1)),
                     boxes=np.zeros((n, 4), np.float32), crop_transforms=np.tile(np.eye(2, 3, dtype=np.float32), (n, 1, 1)),
                     detected=np.ones(n, bool), image_size=(64, 64), crop_size=64, fps=25.0)


def damage(path, how):
    data = path.read_bytes()
    if how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "random":
        path.write_bytes(np.random.default_rng(0).integers(0, 256, len(data), dtype=np.uint8).tobytes())
    elif how == "one bit":
        flipped = bytearray(data)
        flipped[len(data) * 2 // 3] ^= 0x01
        path.write_bytes(bytes(flipped))
    elif how == "foreign npz":  # a valid entry of the wrong kind: passes the checksum, fails the loader
        TrackCache(path.parent).put("k", "faces", lambda fh: np.savez(fh, kind="something_else"))


@pytest.mark.parametrize("how", ["truncated", "empty", "random", "one bit", "foreign npz"])
def test_bad_entry_is_dropped_with_one_note(tmp_path, caplog, how):
    cache = TrackCache(tmp_path)
    track = small_track()
    entry = cache.put("k", "faces", track.save)
    assert cache.load("k", "faces", FaceTrack.load).landmarks == pytest.approx(track.landmarks)
    damage(entry, how)
    with caplog.at_level(logging.INFO, logger="reenact"):
        assert cache.load("k", "faces", FaceTrack.load) is None
    notes = [r.getMessage() for r in caplog.records]
    assert len(notes) == 1 and notes[0].startswith("track cache: dropped") and "\n" not in notes[0]
    assert not entry.exists()
    cache.put("k", "faces", track.save)  # recomputed and stored again
    assert cache.load("k", "faces", FaceTrack.load).landmarks == pytest.approx(track.landmarks)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k.faces.npz"]  # no temp files


def test_unwritable_cache_never_fails_the_run(tmp_path):
    blocker = tmp_path / "cache"
    blocker.write_bytes(b"a file where the cache folder should be")
    assert TrackCache(blocker).put("k", "faces", small_track().save) is None


def test_a_track_made_by_other_tracking_code_is_not_reused(tmp_path, monkeypatch):
    """The cache key holds a digest of the face and tracking code: a fix to the tracker was
    invisible on every clip run before it (the old track came back from the cache)."""
    import shutil

    import reenact
    from reenact import pipeline
    from reenact.cache import code_digest
    from reenact.faces import FaceOptions
    from reenact.driving import DrivingSource

    package = tmp_path / "pkg"
    shutil.copytree(Path(reenact.__file__).parent / "tracking", package / "tracking")
    before = code_digest(("tracking",), package)
    with open(package / "tracking" / "mesh_tracker.py", "a") as fh:
        fh.write("\n# changed\n")
    code_digest.cache_clear()      # computed once a process: the code does not change under a run
    assert code_digest(("tracking",), package) != before

    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"not a video: only its digest is read")
    drive = DrivingSource("video", str(clip), clip)
    reenactor = reenact.Reenactor(overrides=[f"paths.cache_dir={tmp_path / 'cache'}"])
    keys = []
    for code in ("a", "b"):
        monkeypatch.setattr(pipeline, "code_digest", lambda code=code: code)
        keys.append(reenactor._cache_key(drive, FaceOptions(), "mesh", reenactor.cfg))
    assert keys[0] != keys[1]


def test_a_still_driving_image_is_read_once(tmp_path, astronaut, monkeypatch):
    """Its face is found in it and the generator lays its mouth out from it: one read for both."""
    import reenact.io.images as images
    from reenact.driving import DrivingSource
    from reenact.errors import InputError

    images.write_image(tmp_path / "still.png", astronaut)
    reads = []
    read = images.read_image
    monkeypatch.setattr(images, "read_image", lambda *a, **k: reads.append(a) or read(*a, **k))
    drive = DrivingSource.open(tmp_path / "still.png")
    first, again = drive.picture(100.0), drive.picture(100.0)
    assert again is first and len(reads) == 1 and np.array_equal(first, astronaut)
    with pytest.raises(InputError, match="not an image"):
        DrivingSource("preset", "preset:nod", preset="nod").picture(100.0)
