"""The command line: what users see, including every bad-input case in one line and a non-zero exit."""

import subprocess
import sys

import numpy as np
import pytest

from portrait_helpers import similarity, warp, write_test_video
from reenact.cli import main
from reenact.faces import FaceTrack
from reenact.io.images import read_image, write_image
from reenact.io.video import iter_frames


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, astronaut):
    d = tmp_path_factory.mktemp("inputs")
    write_image(d / "face.png", astronaut)
    write_image(d / "blank.png", np.full((256, 256, 3), 128, np.uint8))
    frames = [warp(astronaut, similarity(3 * np.sin(t / 2), 1, 4 * t, 0)) for t in range(8)]
    write_test_video(d / "drive.mp4", frames)
    write_test_video(d / "blank.mp4", [np.full((128, 128, 3), 60, np.uint8)] * 5)
    (d / "junk.mp4").write_bytes(b"\x1a\x45\xdf\xa3" + b"\x00" * 2000)
    data = (d / "face.png").read_bytes()
    (d / "cut.png").write_bytes(data[: len(data) // 4])
    return d


@pytest.mark.slow
def test_console_script_help_and_doctor():
    help_ = subprocess.run([sys.executable, "-m", "reenact.cli", "--help"], capture_output=True, text=True)
    assert help_.returncode == 0 and "--source" in help_.stdout and "reenact doctor" in help_.stdout
    doctor = subprocess.run([sys.executable, "-m", "reenact.cli", "doctor"], capture_output=True, text=True)
    assert doctor.returncode == 0
    assert "found    MediaPipe face landmarker" in doctor.stdout
    assert "FLAME head model" in doctor.stdout and "flame.is.tue.mpg.de" in doctor.stdout
    assert doctor.stderr == ""  # no native library chatter


def test_landmarks_command_writes_npz_and_preview(capsys, inputs, tmp_path):
    code, _, err = run(capsys, "landmarks", "-i", inputs / "drive.mp4", "-o", tmp_path / "lm.npz",
                       "--preview", tmp_path / "prev.mp4", "-q")
    assert code == 0, err
    track = FaceTrack.load(tmp_path / "lm.npz")
    assert track.landmarks.shape == (8, 478, 3) and track.fps == pytest.approx(25)
    # the portrait moved 4 px right per frame
    assert np.diff(track.landmarks[:, :, 0].mean(1)).mean() == pytest.approx(4, abs=0.5)
    # the preview is the input with each frame's own landmarks drawn in green
    preview = np.stack(list(iter_frames(tmp_path / "prev.mp4"))).astype(float)
    original = np.stack(list(iter_frames(inputs / "drive.mp4"))).astype(float)
    assert preview.shape == original.shape == (8, 512, 512, 3)
    for k in range(8):
        mine, other = (np.round(track.landmarks[i, :, :2]).astype(int) for i in (k, (k + 4) % 8))
        assert greenness(preview[k], mine) > 150 > greenness(original[k], mine) + 100
        assert greenness(preview[k], other) < 120          # not another frame's landmarks
        assert np.abs(preview[k, 440:, :80] - original[k, 440:, :80]).mean() < 4   # far from the face: the input
    code, _, err = run(capsys, "landmarks", "-i", inputs / "face.png", "-o", tmp_path / "img.npz",
                       "--preview", tmp_path / "img.png", "-q")
    assert code == 0
    still = FaceTrack.load(tmp_path / "img.npz").landmarks
    assert still.shape == (1, 478, 3)
    assert greenness(read_image(tmp_path / "img.png").astype(float), np.round(still[0, :, :2]).astype(int)) > 200


def greenness(image: np.ndarray, points: np.ndarray) -> float:
    """How much greener than red and blue `image` is at `points` (x, y), on average."""
    rgb = image[points[:, 1], points[:, 0]]
    return float((rgb[:, 1] - (rgb[:, 0] + rgb[:, 2]) / 2).mean())


BAD_INPUTS = [
    ("missing source", ["--source", "{d}/nope.png", "--driving", "{d}/drive.mp4", "-o", "{o}/out.mp4"], "not found"),
    ("directory as source", ["--source", "{d}", "--driving", "{d}/drive.mp4", "-o", "{o}/out.mp4"], "is a directory"),
    ("truncated image", ["--source", "{d}/cut.png", "--driving", "{d}/drive.mp4", "-o", "{o}/out.mp4"], "truncated or corrupt"),
    ("corrupt video", ["--source", "{d}/face.png", "--driving", "{d}/junk.mp4", "-o", "{o}/out.mp4"], "not a readable video"),
    ("no face in source", ["--source", "{d}/blank.png", "--driving", "{d}/drive.mp4", "-o", "{o}/out.mp4"], "no face found"),
    ("no face in driving", ["--source", "{d}/face.png", "--driving", "{d}/blank.mp4", "-o", "{o}/out.mp4"], "no face found"),
    ("output is an input", ["--source", "{d}/face.png", "--driving", "{d}/drive.mp4", "-o", "{d}/drive.mp4", "--overwrite"], "same file as an input"),
    ("output exists", ["--source", "{d}/face.png", "--driving", "{d}/drive.mp4", "-o", "{d}/face.png"], "same file as an input"),
    ("bad config override", ["--source", "{d}/face.png", "--driving", "{d}/drive.mp4", "-o", "{o}/out.mp4", "--set", "oops"], "key=value"),
    ("landmarks into a file as folder", ["landmarks", "-i", "{d}/face.png", "-o", "{d}/face.png/x.npz"], "cannot|not writable|is not a directory"),
]


@pytest.mark.parametrize("case, argv, message", BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS])
def test_bad_input_is_one_line_and_nonzero(capsys, inputs, tmp_path, case, argv, message):
    argv = [a.format(d=inputs, o=tmp_path) for a in argv] + ["-q"]  # progress bars are not under test
    code, out, err = run(capsys, *argv)
    assert code != 0
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("reenact: error:"), err
    assert "Traceback" not in err
    import re
    assert re.search(message, lines[0]), lines[0]


def test_existing_output_needs_overwrite(capsys, inputs, tmp_path):
    (tmp_path / "lm.npz").write_bytes(b"old")
    code, _, err = run(capsys, "landmarks", "-i", inputs / "face.png", "-o", tmp_path / "lm.npz", "-q")
    assert code != 0 and "--overwrite" in err and (tmp_path / "lm.npz").read_bytes() == b"old"
