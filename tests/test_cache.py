"""The track cache heals itself: a bad entry is dropped with one note and recomputed."""

import logging

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
