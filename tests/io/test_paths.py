"""Outputs never destroy what reenact did not write (issue 15)."""

import errno
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from reenact.errors import OutputError
from reenact.io import paths
from reenact.io.paths import MANIFEST, atomic_path, check_output, protect, replaceable_folder
from reenact.io.writer import output_format, write_video


def frames(n, h=32, w=48):
    for i in range(n):
        yield np.full((h, w, 3), i * 20 % 256, np.uint8)


@pytest.fixture(autouse=True)
def _release():
    yield
    paths.unlock_all()
    paths.unprotect_all()


def test_folder_output_replaces_only_what_reenact_wrote(tmp_path):
    out = write_video(tmp_path / "frames", frames(3), fps=25)
    assert replaceable_folder(out)
    check_output(out, [], overwrite=True)  # a previous run's frames: fine
    write_video(out, frames(2), fps=25)
    assert sorted(p.name for p in out.glob("*.png")) == ["00000.png", "00001.png"]
    (out / "notes.txt").write_text("mine")
    with pytest.raises(OutputError, match="did not write"):
        check_output(out, [], overwrite=True)
    # and even a writer that skipped the check does not swap a foreign file away
    with pytest.raises(OutputError, match="did not write"):
        write_video(out, frames(2), fps=25)
    assert (out / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames"]  # no temp left


def test_results_folder_without_manifest_is_kept(tmp_path):
    results = tmp_path / "outputs"
    results.mkdir()
    (results / "old.mp4").write_bytes(b"precious")
    with pytest.raises(OutputError, match="did not write"):
        check_output(results, [], overwrite=True)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert check_output(empty, [], overwrite=True) == empty


def test_cwd_parents_of_inputs_and_inputs_are_never_outputs(tmp_path, monkeypatch):
    photos = tmp_path / "photos"
    photos.mkdir()
    face = photos / "face.jpg"
    face.write_bytes(b"jpeg")
    monkeypatch.chdir(photos)
    with pytest.raises(OutputError, match="current folder"):
        check_output(".", [face], overwrite=True)
    with pytest.raises(OutputError, match="current folder"):
        check_output(tmp_path, [], overwrite=True)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(OutputError, match="holds the input"):
        check_output("photos", [face], overwrite=True)
    with pytest.raises(OutputError, match="same file as an input"):
        check_output("photos/./face.jpg", [face], overwrite=True)
    with pytest.raises(OutputError, match="home folder"):
        check_output(os.path.expanduser("~"), [], overwrite=True)
    assert face.read_bytes() == b"jpeg"


def test_protected_config_is_never_rewritten(tmp_path):
    cfg = tmp_path / "out.mp4.yaml"
    cfg.write_text("run: {fps: 10}\n")
    protect(cfg)
    with pytest.raises(OutputError, match="same file as an input"):
        check_output(cfg, [], overwrite=True)
    with pytest.raises(OutputError, match="same file as an input"):
        with atomic_path(cfg) as tmp:
            tmp.write_text("clobbered")
    assert cfg.read_text() == "run: {fps: 10}\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4.yaml"]


def test_kind_mismatches_are_one_line_errors(tmp_path):
    (tmp_path / "x.mp4").mkdir()
    with pytest.raises(OutputError, match="existing folder"):
        check_output(tmp_path / "x.mp4", [], overwrite=True)
    (tmp_path / "frames").write_bytes(b"a file")
    with pytest.raises(OutputError, match="existing file, not a folder"):
        check_output(tmp_path / "frames", [], overwrite=True)
    assert (tmp_path / "frames").read_bytes() == b"a file"


def test_output_format_is_decided_before_work(tmp_path):
    assert output_format(tmp_path / "a.mp4") == "video"
    assert output_format(tmp_path / "frames") == "frames"
    assert output_format(tmp_path / "a.png", still=True) == "image"
    with pytest.raises(OutputError, match=r"a\.mp4 for a video, a\.gif or \.webp for an animated picture, or a/ for a folder"):
        output_format(tmp_path / "a.png")
    with pytest.raises(OutputError, match=r"unsupported output b\.avi: use a \.mp4, \.mov, \.m4v video, an animated \.gif or \.webp"):
        output_format(tmp_path / "b.avi")
    with pytest.raises(OutputError, match=r"a folder's name takes no dot \(frames_0_5\)"):
        output_format(tmp_path / "frames_0.5")
    assert output_format(tmp_path / "a.mov") == output_format(tmp_path / "a.M4V") == "video"   # as it says
    # a GIF or WebP plays a clip; for a still driving it is the one picture
    assert output_format(tmp_path / "a.gif") == output_format(tmp_path / "a.WebP") == "animation"
    assert output_format(tmp_path / "a.gif", still=True) == output_format(tmp_path / "a.webp", still=True) == "image"



def test_old_output_survives_a_failed_replacement(tmp_path):
    out = write_video(tmp_path / "v.mp4", frames(5), fps=25)
    before = out.read_bytes()

    def broken():
        yield from frames(2)
        raise RuntimeError("generator died")

    with pytest.raises(RuntimeError):
        write_video(out, broken(), fps=25)
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.mp4"]


def test_disk_full_is_one_output_error_and_leaves_nothing(tmp_path, monkeypatch):
    from PIL import Image

    def full(self, fp, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(fp))

    monkeypatch.setattr(Image.Image, "save", full)
    with pytest.raises(OutputError, match=r"writing .*frames failed: No space left on device; free some space"):
        write_video(tmp_path / "frames", frames(3), fps=25)
    assert list(tmp_path.iterdir()) == []


def test_a_second_process_cannot_write_a_locked_output(tmp_path):
    out = tmp_path / "same.mp4"
    check_output(out, [])
    child = textwrap.dedent(f"""
        from reenact.io.paths import check_output
        from reenact.errors import OutputError
        try:
            check_output({str(out)!r}, [])
        except OutputError as e:
            print(e)
    """)
    done = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert f"another reenact run (pid {os.getpid()}) is writing" in done.stdout
    paths.unlock_output(out)
    done = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert done.stdout == "" and done.returncode == 0
