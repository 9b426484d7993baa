"""Fault injection (issue 15): bad paths, data-loss traps, faults and real signals on real runs.

Every case asserts the exit code, exactly one error line and no traceback, that every file that
was there before is still there byte for byte, and that no temporary file or folder is left.
"""

from __future__ import annotations

import errno
import logging
import os
import signal
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest

from portrait_helpers import similarity, warp, write_clip_with_tone, write_tagged_clip, write_test_video
from reenact.cli import main
from reenact.io.images import write_image
from reenact.io.paths import MANIFEST, _lock_file
from reenact.io.video import iter_frames

REPO = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------------------------ helpers

def snapshot(*folders: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for folder in folders for p in sorted(folder.rglob("*")) if p.is_file()}


def leftovers(*folders: Path) -> list[str]:
    """Temporary names reenact might leave: hidden `.x.tmp.*.part*`, `.mux.`, `.old.` siblings."""
    return [str(p) for folder in folders if folder.exists() for p in folder.rglob("*")
            if ".part" in p.name or (p.name.startswith(".") and p.name != MANIFEST)]


def cli(capsys, *argv) -> tuple[int, list[str], str]:
    code = main([str(a) for a in argv])
    _, err = capsys.readouterr()
    return code, [ln for ln in err.splitlines() if ln.strip()], err


def assert_one_error(code, lines, err, exit_code, pattern):
    import re

    assert code == exit_code, err
    assert len(lines) == 1 and lines[0].startswith("reenact: error:"), err
    assert "Traceback" not in err
    assert re.search(pattern, lines[0]), lines[0]


@pytest.fixture(scope="module")
def clips(tmp_path_factory, astronaut):
    d = tmp_path_factory.mktemp("clips")
    frames = [warp(astronaut, similarity(3 * np.sin(t / 2), 1, 4 * t, 0)) for t in range(8)]
    write_test_video(d / "drive.mp4", frames)
    write_clip_with_tone(d / "drive_audio.mp4", frames, seconds=0.5)
    write_tagged_clip(d / "full.mp4", frames * 3, faststart=True)
    data = (d / "full.mp4").read_bytes()
    (d / "truncated.mp4").write_bytes(data[: int(len(data) * 0.8)])
    return d


@pytest.fixture
def work(tmp_path, clips, astronaut, monkeypatch):
    """A folder with a source portrait, a driving clip and an unrelated file; the cache elsewhere."""
    (tmp_path / "in").mkdir()
    write_image(tmp_path / "in" / "face.png", astronaut)
    (tmp_path / "in" / "drive.mp4").write_bytes((clips / "drive.mp4").read_bytes())
    (tmp_path / "in" / "notes.txt").write_text("not reenact's")
    monkeypatch.setenv("REENACT_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path


# ------------------------------------------------------------------------------ data loss

def test_output_dot_in_the_input_folder_deletes_nothing(capsys, work, monkeypatch):
    before = snapshot(work / "in")
    monkeypatch.chdir(work / "in")
    code, lines, err = cli(capsys, "-s", "face.png", "-d", "drive.mp4", "-o", ".", "--overwrite", "-q")
    assert_one_error(code, lines, err, 3, "current folder")
    assert snapshot(work / "in") == before and not leftovers(work)


def test_output_folder_holding_the_inputs_deletes_nothing(capsys, work):
    before = snapshot(work / "in")
    code, lines, err = cli(capsys, "-s", work / "in/face.png", "-d", work / "in/drive.mp4", "-o", work / "in",
                           "--overwrite", "-q")
    assert_one_error(code, lines, err, 3, "holds the input")
    assert snapshot(work / "in") == before and not leftovers(work)


def test_results_folder_with_other_files_is_not_replaced(capsys, work):
    (work / "outputs").mkdir()
    (work / "outputs" / "last_week.mp4").write_bytes(b"precious")
    before = snapshot(work)
    code, lines, err = cli(capsys, "-s", work / "in/face.png", "-d", work / "in/drive.mp4", "-o", work / "outputs",
                           "--overwrite", "-q")
    assert_one_error(code, lines, err, 3, "did not write")
    assert snapshot(work) == before and not leftovers(work)


def test_frames_folder_from_an_earlier_run_is_replaced_whole(capsys, work):
    out = work / "frames"
    code, _, err = cli(capsys, "-s", work / "in/face.png", "-d", work / "in/drive.mp4", "-o", out, "--max-frames", "4", "-q")
    assert code == 0, err
    assert sorted(p.name for p in out.glob("*.png")) == [f"{i:05d}.png" for i in range(4)]
    code, _, err = cli(capsys, "-s", work / "in/face.png", "-d", work / "in/drive.mp4", "-o", out, "--max-frames", "3",
                       "--overwrite", "-q")
    assert code == 0, err
    assert sorted(p.name for p in out.glob("*.png")) == [f"{i:05d}.png" for i in range(3)]
    assert not leftovers(work / "in", out) and not [p for p in work.iterdir() if p.name.startswith(".")]


def test_weights_convert_never_deletes_its_sources(capsys, tmp_path):
    w = tmp_path / "W"
    for rel in ("magicportrait/denoising_unet.pth", "stable-diffusion-v1-5/unet/config.json", "notes.txt"):
        (w / rel).parent.mkdir(parents=True, exist_ok=True)
        (w / rel).write_bytes(rel.encode())
    before = snapshot(w)
    code, lines, err = cli(capsys, "weights", "convert", "--src", w / "magicportrait", "--sd15",
                           w / "stable-diffusion-v1-5", "--out", w, "--overwrite")
    assert_one_error(code, lines, err, 3, "holds the input")
    code, lines, err = cli(capsys, "weights", "convert", "--src", w / "magicportrait", "--sd15",
                           w / "stable-diffusion-v1-5", "--out", w / "stable-diffusion-v1-5", "--overwrite")
    assert_one_error(code, lines, err, 3, "same file as an input")
    assert snapshot(w) == before and not leftovers(tmp_path)


def test_existing_sidecar_needs_overwrite_and_a_config_input_is_never_rewritten(capsys, work):
    sidecar = work / "out.mp4.yaml"
    sidecar.write_text("run:\n  fps: 12\n")
    before = snapshot(work)
    code, lines, err = cli(capsys, "-s", work / "in/face.png", "-d", work / "in/drive.mp4", "-o", work / "out.mp4", "-q")
    assert_one_error(code, lines, err, 3, r"out\.mp4\.yaml already exists")
    code, lines, err = cli(capsys, "-s", work / "in/face.png", "-d", work / "in/drive.mp4", "-o", work / "out.mp4",
                           "--config", sidecar, "--overwrite", "-q")
    assert_one_error(code, lines, err, 3, "same file as an input")
    assert snapshot(work) == before and not (work / "out.mp4").exists() and not leftovers(work)


def test_demo_does_not_overwrite_without_the_flag(capsys, tmp_path):
    out = tmp_path / "existing.mp4"
    out.write_bytes(b"my video")
    code, lines, err = cli(capsys, "demo", "-o", out, "-q")
    assert_one_error(code, lines, err, 3, "already exists; pass --overwrite")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["existing.mp4"] and out.read_bytes() == b"my video"


def test_output_kind_mismatches_are_one_line(capsys, work):
    (work / "x.mp4").mkdir()
    (work / "frames").write_bytes(b"a file named like a frames folder")
    before = snapshot(work)
    for output, pattern in (("x.mp4", "existing folder"), ("frames", "existing file, not a folder")):
        code, lines, err = cli(capsys, "-s", work / "in/face.png", "-d", work / "in/drive.mp4", "-o", work / output,
                               "--overwrite", "-q")
        assert_one_error(code, lines, err, 3, pattern)
    assert snapshot(work) == before and not leftovers(work)


@pytest.mark.parametrize("output, pattern", [
    ("out.png", r"use out\.mp4 for a video, out\.gif or \.webp for an animated picture, or out/ for a folder"),
    ("out.avi", "unsupported output out.avi")])
def test_wrong_output_suffix_fails_before_any_work(capsys, work, output, pattern):
    code, lines, err = cli(capsys, "-s", work / "in/face.png", "-d", work / "in/drive.mp4", "-o", work / output, "-q")
    assert_one_error(code, lines, err, 3, pattern)
    assert not (work / "cache").exists()  # no landmarks were computed
    assert not (work / output).exists() and not leftovers(work)


# -------------------------------------------------------------------------------- bad inputs

def _png_header_only(path: Path, width: int, height: int) -> Path:
    """A small PNG file that declares a huge picture (what a decompression bomb looks like)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
                     + chunk(b"IEND", b""))
    return path


@pytest.mark.parametrize("width, height, pattern", [(20000, 20000, "decompression bomb"),
                                                    (12000, 12000, r"12000x12000 \(144 MP\), above the 100 MP limit")])
def test_huge_pictures_are_refused_in_one_line(capsys, work, width, height, pattern):
    big = _png_header_only(work / "in" / "big.png", width, height)
    before = snapshot(work)
    code, lines, err = cli(capsys, "-s", big, "-d", work / "in/drive.mp4", "-o", work / "out.mp4", "-q")
    assert_one_error(code, lines, err, 2, pattern)
    assert snapshot(work) == before and not leftovers(work)


def test_megapixel_limit_is_configurable(capsys, work):
    code, lines, err = cli(capsys, "-s", work / "in/face.png", "-d", work / "in/drive.mp4", "-o", work / "out.mp4",
                           "--set", "run.max_megapixels=0.1", "-q")
    assert_one_error(code, lines, err, 2, r"512x512 \(0 MP\), above the 0.1 MP limit")


def test_malicious_pickle_is_refused_in_one_line_and_never_runs(tmp_path):
    from reenact.errors import AssetError
    from reenact.flame.pickle_safe import load_npy_object

    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    payload = np.empty((), dtype=object)
    payload[()] = Evil()
    np.save(tmp_path / "landmark_embedding.npy", payload, allow_pickle=True)
    with pytest.raises(AssetError) as info:
        load_npy_object(tmp_path / "landmark_embedding.npy")
    assert "\n" not in str(info.value) and "refusing" in str(info.value) and "system" in str(info.value)
    assert not marker.exists()


def test_truncated_driving_runs_with_one_warning(capsys, work, clips):
    code = main([str(a) for a in ("-s", work / "in/face.png", "-d", clips / "truncated.mp4", "-o", work / "out.mp4")])
    _, err = capsys.readouterr()
    assert code == 0, err
    assert err.count("is truncated or damaged: decoded") == 1 and "Traceback" not in err
    from reenact.io.video import probe_video

    assert 5 < probe_video(work / "out.mp4").frame_count < 24


def test_gif_driving_is_a_video(capsys, work, astronaut):
    from PIL import Image

    frames = [Image.fromarray(warp(astronaut, similarity(2 * t, 1, 3 * t, 0))) for t in range(5)]
    frames[0].save(work / "in" / "drive.gif", save_all=True, append_images=frames[1:], duration=40, loop=0)
    code, _, err = cli(capsys, "-s", work / "in/face.png", "-d", work / "in/drive.gif", "-o", work / "out.mp4", "-q")
    assert code == 0, err
    from reenact.io.video import probe_video

    assert probe_video(work / "out.mp4").frame_count == 5


def test_animated_webp_driving_is_a_video_and_as_a_source_is_refused_by_name(capsys, work, astronaut):
    from PIL import Image

    frames = [Image.fromarray(warp(astronaut, similarity(2 * t, 1, 3 * t, 0))) for t in range(5)]
    frames[0].save(work / "in" / "sticker.webp", save_all=True, append_images=frames[1:], duration=40, loop=0)
    code, _, err = cli(capsys, "-s", work / "in/face.png", "-d", work / "in/sticker.webp", "-o", work / "out.mp4", "-q")
    assert code == 0, err
    from reenact.io.video import probe_video

    info = probe_video(work / "out.mp4")
    assert info.frame_count == 5 and info.fps == pytest.approx(25)    # its 40 ms frames, not a still's ease
    code, _, err = cli(capsys, "-s", work / "in/sticker.webp", "-d", "preset:talk", "-o", work / "out2.mp4", "-q")
    assert code == 2 and "sticker.webp is animated" in err and "Traceback" not in err


def test_phone_clip_with_rotation_is_tracked_upright(capsys, tmp_path, astronaut):
    from reenact.faces import FaceTrack

    portrait = astronaut[:, 64:448]  # 512 tall, 384 wide
    frames = [np.rot90(warp(portrait, similarity(0, 1, 2 * t, 0, centre=(192.0, 256.0))), -1) for t in range(5)]
    clip = write_tagged_clip(tmp_path / "phone.mp4", frames, rotation=90)  # stored sideways, shown upright
    code, _, err = cli(capsys, "landmarks", "-i", clip, "-o", tmp_path / "lm.npz", "-q")
    assert code == 0, err
    track = FaceTrack.load(tmp_path / "lm.npz")
    assert tuple(track.image_size) in ((512, 384), (384, 512)) and track.detected.all()
    eyes_y = track.landmarks[:, [33, 263], 1].mean()
    chin_y = track.landmarks[:, 152, 1].mean()
    assert eyes_y < chin_y  # upright: the eyes above the chin


# --------------------------------------------------------------------------------- the cache

def test_damaged_cache_entries_are_recomputed_and_the_run_succeeds(capsys, work, caplog):
    args = ["-s", work / "in/face.png", "-d", work / "in/drive.mp4", "-o", work / "out.mp4", "--max-frames", "5", "-q"]
    code, _, err = cli(capsys, *args)
    assert code == 0, err
    entries = sorted((work / "cache").glob("*.npz"))
    assert len(entries) == 2  # landmarks and the mesh track
    data = entries[0].read_bytes()
    entries[0].write_bytes(data[: len(data) // 3])              # truncated
    flipped = bytearray(entries[1].read_bytes())
    flipped[len(flipped) // 2] ^= 0x40                           # one byte flipped
    entries[1].write_bytes(bytes(flipped))
    code = main([str(a) for a in args[:-1] + ["--overwrite"]])
    _, err = capsys.readouterr()
    assert code == 0, err
    notes = [ln for ln in err.splitlines() if ln.startswith("track cache: dropped")]
    assert len(notes) == 2, err
    from reenact.cache import TrackCache
    from reenact.faces import FaceTrack

    healed = [p for p in (work / "cache").glob("*.faces.npz")]
    assert len(healed) == 1
    key = healed[0].name.split(".")[0]
    assert len(TrackCache(work / "cache").load(key, "faces", FaceTrack.load)) == 5
    assert not leftovers(work / "cache", work)


# ------------------------------------------------------------------------ disk full, muxing

def test_disk_full_while_encoding_mp4_is_one_line_and_leaves_nothing(capsys, work, monkeypatch):
    from reenact.io import writer

    real_write = writer.Mp4Writer.write

    def write_until_full(self, frame):
        if self.frames >= 2:
            raise OSError(errno.ENOSPC, "No space left on device", str(self.path))
        real_write(self, frame)

    monkeypatch.setattr(writer.Mp4Writer, "write", write_until_full)
    before = snapshot(work / "in")
    code, lines, err = cli(capsys, "-s", work / "in/face.png", "-d", work / "in/drive.mp4", "-o", work / "out.mp4", "-q")
    assert_one_error(code, lines, err, 3, r"writing .*out\.mp4 failed: No space left on device; free some space")
    assert snapshot(work / "in") == before
    assert not (work / "out.mp4").exists() and not (work / "out.mp4.yaml").exists() and not leftovers(work)


def test_disk_full_while_writing_pngs_is_one_line_and_leaves_nothing(capsys, work, monkeypatch):
    from PIL import Image

    real_save = Image.Image.save

    def save(self, fp, *args, **kwargs):
        if ".part" in str(fp) and str(fp).endswith("00002.png"):
            raise OSError(errno.ENOSPC, "No space left on device", str(fp))
        return real_save(self, fp, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "save", save)
    code, lines, err = cli(capsys, "-s", work / "in/face.png", "-d", work / "in/drive.mp4", "-o", work / "frames", "-q")
    assert_one_error(code, lines, err, 3, r"writing .*frames failed: No space left on device")
    assert not (work / "frames").exists() and not leftovers(work)


def test_interrupt_while_muxing_audio_leaves_nothing(capsys, work, clips, monkeypatch):
    from reenact.io import writer

    def interrupted(video_path, src_audio, tmp, duration):
        tmp.write_bytes(b"half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(writer, "_copy_with_audio", interrupted)
    code, lines, err = cli(capsys, "-s", work / "in/face.png", "-d", clips / "drive_audio.mp4", "-o", work / "out.mp4", "-q")
    assert code == 130 and lines == ["reenact: interrupted"], err
    assert not (work / "out.mp4").exists() and not leftovers(work)


# ----------------------------------------------------------------------- real signals, real runs

def _signal_when(argv, ready, sig, cwd, timeout=240.0):
    """Start `reenact argv`, send `sig` once `ready()` is true; (exit code, stderr)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "REENACT_CACHE_DIR": str(cwd / "cache")}
    proc = subprocess.Popen([sys.executable, "-m", "reenact.cli", *map(str, argv)], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + timeout
    while not ready() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    if proc.poll() is not None:
        pytest.fail(f"the run ended before the signal: {proc.communicate()[1]}")
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    return proc.returncode, err


@pytest.mark.slow
@pytest.mark.parametrize("stage, sig", [("detection", signal.SIGTERM), ("encoding", signal.SIGTERM),
                                        ("png writing", signal.SIGTERM), ("encoding", signal.SIGHUP)])
def test_real_signal_mid_run_cleans_up(tmp_path, clips, astronaut, stage, sig):
    (tmp_path / "in").mkdir()
    write_image(tmp_path / "in" / "face.png", astronaut)
    long = [warp(astronaut, similarity(3 * np.sin(t / 3), 1, 2 * np.sin(t / 5), 0)) for t in range(50)]
    write_test_video(tmp_path / "in" / "drive.mp4", long)
    before = snapshot(tmp_path / "in")
    output = tmp_path / ("frames" if stage == "png writing" else "out.mp4")

    if stage == "detection":
        def ready():  # the output is locked (checks done) and nothing is written yet: landmarks run
            return _lock_file(output.resolve()).exists()
    elif stage == "encoding":
        def ready():
            return any(p.name.startswith(".out.tmp.") and p.stat().st_size > 0 for p in tmp_path.iterdir())
    else:
        def ready():
            return any(len(list(p.glob("*.png"))) >= 2 for p in tmp_path.iterdir() if p.name.startswith(".frames.tmp."))

    code, err = _signal_when(["-s", "in/face.png", "-d", "in/drive.mp4", "-o", output.name, "-q", "--no-cache"],
                             ready, sig, tmp_path)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 128 + sig, err
    assert lines == [f"reenact: interrupted by {signal.Signals(sig).name}; temporary files removed"], err
    assert snapshot(tmp_path / "in") == before
    assert not output.exists() and not leftovers(tmp_path)
    assert not _lock_file(output.resolve()).exists()  # the lock went with the run


@pytest.mark.slow
@pytest.mark.parametrize("streams", ["stderr", "both"])
def test_a_run_whose_notes_reader_has_gone_still_writes_its_output(tmp_path, clips, astronaut, streams):
    """`reenact ... 2>&1 | head -3`: once the reader leaves, a note or a progress bar written to
    stderr raised BrokenPipeError. The run then ended with status 0 and no output, or, raised in the
    generating thread's progress bar, hung at exit. The notes are dropped now; the job goes on."""
    write_image(tmp_path / "face.png", astronaut)
    env = {**os.environ, "PYTHONPATH": str(REPO), "REENACT_CACHE_DIR": str(tmp_path / "cache")}
    read_end, write_end = os.pipe()
    os.close(read_end)                                                   # the reader has gone
    try:
        done = subprocess.run([sys.executable, "-m", "reenact.cli", "-s", "face.png", "-d", str(clips / "drive.mp4"),
                               "-o", "out.mp4"], cwd=tmp_path, env=env, stderr=write_end,
                              stdout=write_end if streams == "both" else subprocess.DEVNULL, timeout=180)
    finally:
        os.close(write_end)
    assert done.returncode == 0
    assert len(list(iter_frames(tmp_path / "out.mp4"))) == len(list(iter_frames(clips / "drive.mp4")))
    assert not leftovers(tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("output, size", [("out.mp4", "16k"), ("frames", "200k")])
def test_real_full_disk_is_one_line_and_leaves_nothing(tmp_path, clips, astronaut, output, size):
    """A real full filesystem (a tiny tmpfs; needs root and mount, skipped elsewhere)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(disk)],
                                           capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        write_image(tmp_path / "face.png", astronaut)
        env = {**os.environ, "PYTHONPATH": str(REPO), "REENACT_CACHE_DIR": str(tmp_path / "cache")}
        done = subprocess.run([sys.executable, "-m", "reenact.cli", "-s", str(tmp_path / "face.png"),
                               "-d", str(clips / "drive.mp4"), "-o", str(disk / output), "-q"],
                              capture_output=True, text=True, env=env)
        lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
        assert done.returncode == 3, done.stderr
        assert len(lines) == 1 and "No space left on device" in lines[0] and str(disk / output) in lines[0]
        assert list(disk.iterdir()) == []
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)
