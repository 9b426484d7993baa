import numpy as np

from reenact.faces.clock import even_clock, frames_on_clock
from reenact.faces.types import FaceTrack


def test_an_even_clip_at_its_own_rate_plays_frame_by_frame():
    times = np.arange(50) / 25 + 0.0004 * np.sin(np.arange(50))        # a millisecond time base's rounding
    assert even_clock(times, 25.0) is None
    assert even_clock(times, 25.1) is None                             # within SAME_RATE
    assert even_clock(None, 25.0) is None and even_clock(times[:1], 25.0) is None
    assert even_clock(np.r_[0.0, 0.04, 0.04, 0.08], 25.0) is None      # times that do not increase


def test_another_output_rate_repeats_or_leaves_out_frames_at_their_moments():
    times = np.arange(50) / 25                                         # 2 s at 25 fps
    thirty = even_clock(times, 30.0)
    assert len(thirty) == 60                                           # 2 s at 30 fps
    # ticks at 0, 33, 67, (100: halfway between two frames), 133, 167, 200 ms; frames every 40 ms
    np.testing.assert_array_equal(thirty[[0, 1, 2, 4, 5, 6]], [0, 1, 2, 3, 4, 5])
    assert np.abs(times[thirty] - np.arange(60) / 30).max() <= 0.5 / 25 + 1e-9
    ten = even_clock(times, 10.0)
    assert len(ten) == 20 and np.abs(times[ten] - np.arange(20) / 10).max() <= 0.5 / 25 + 1e-9


def test_a_variable_rate_clip_is_taken_at_even_moments():
    times = np.r_[np.arange(30) / 30, 1 + np.arange(15) / 15]          # 1 s at 30 fps, then 1 s at 15
    clock = even_clock(times, 22.5)
    ticks = np.arange(len(clock)) / 22.5
    assert len(clock) == 44
    # each tick shows the frame nearest its moment: never further than half the sparser interval
    assert np.abs(times[clock] - ticks).max() <= 0.5 / 15 + 1e-9
    assert (np.diff(clock) >= 0).all() and (np.diff(clock[:22]) >= 1).all() and (np.diff(clock[24:]) == 0).any()


def test_frames_on_clock_repeats_and_leaves_out_and_holds_the_last():
    frames = [np.full((2, 2, 3), k, np.uint8) for k in range(5)]
    got = [int(f[0, 0, 0]) for f in frames_on_clock(iter(frames), np.array([0, 0, 2, 3, 3, 4, 6, 7]))]
    assert got == [0, 0, 2, 3, 3, 4, 4, 4]


def test_a_track_on_a_clock_keeps_its_cuts_and_reads_evenly(tmp_path):
    n = 8
    cuts = np.zeros(n, bool)
    cuts[[3, 6]] = True
    track = FaceTrack(landmarks=np.arange(n, dtype=np.float32)[:, None, None] * np.ones((n, 478, 3), np.float32),
                      blendshapes=np.zeros((n, 52), np.float32), transforms=np.tile(np.eye(4, dtype=np.float32), (n, 1, 1)),
                      boxes=np.zeros((n, 4), np.float32), crop_transforms=np.zeros((n, 2, 3), np.float32),
                      detected=np.ones(n, bool), image_size=(64, 64), crop_size=64, fps=25.0,
                      mouth=np.zeros((n, 2), np.float32), cuts=cuts, times=np.arange(n) * 0.04 + 1.0)
    taken = track.take(np.array([0, 1, 1, 2, 4, 5, 7, 7]), 30.0)      # frame 3 (a cut) and 6 (a cut) left out
    np.testing.assert_array_equal(taken.landmarks[:, 0, 0], [0, 1, 1, 2, 4, 5, 7, 7])
    np.testing.assert_array_equal(taken.cuts, [False, False, False, False, True, False, True, False])
    np.testing.assert_allclose(taken.times, 1.0 + np.arange(8) / 30)
    assert taken.fps == 30.0 and even_clock(taken.times, 30.0) is None
    taken.save(tmp_path / "t.npz")
    np.testing.assert_array_equal(FaceTrack.load(tmp_path / "t.npz").times, taken.times)
