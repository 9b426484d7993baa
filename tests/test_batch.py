"""`reenact batch`: jobs from a list file or a folder, sharded by process, run with one model load."""

from __future__ import annotations

from pathlib import Path

import pytest

from reenact.batch import BatchJob, read_jobs, run_batch, shard
from reenact.errors import InputError, NoFaceError


def test_list_file_lines_resolve_against_the_list_and_the_output_folder(tmp_path):
    spec = tmp_path / "jobs" / "list.txt"
    spec.parent.mkdir()
    spec.write_text("# source driving [output]\n"
                    "faces/a.jpg clips/x.mp4\n"
                    "\n"
                    "'faces/b c.jpg' preset:nod custom.mp4   # spaces need quotes\n")
    jobs = read_jobs(spec, tmp_path / "out")
    assert jobs == [BatchJob(spec.parent / "faces/a.jpg", str(spec.parent / "clips/x.mp4"), tmp_path / "out/a__x.mp4"),
                    BatchJob(spec.parent / "faces/b c.jpg", "preset:nod", tmp_path / "out/custom.mp4")]
    spec.write_text("only-one-field.jpg\n")
    with pytest.raises(InputError, match=r"list\.txt:1: expected `SOURCE DRIVING \[OUTPUT\]`"):
        read_jobs(spec, tmp_path / "out")


def test_a_folder_pairs_every_source_with_every_driving(tmp_path):
    for rel in ("source/s1.jpg", "source/s2.png", "source/notes.txt", "driving/d1.mp4", "driving/d2.mov"):
        (tmp_path / rel).parent.mkdir(exist_ok=True)
        (tmp_path / rel).write_bytes(b"")
    jobs = read_jobs(tmp_path, tmp_path / "out")
    assert [j.output.name for j in jobs] == ["s1__d1.mp4", "s1__d2.mp4", "s2__d1.mp4", "s2__d2.mp4"]
    with pytest.raises(InputError, match=r"needs source/ \(portraits\) and driving/"):
        read_jobs(tmp_path / "source", tmp_path / "out")


def test_a_folder_takes_animated_stickers_and_gifs_as_drivings_not_as_portraits(tmp_path):
    from PIL import Image

    frames = [Image.new("RGB", (32, 32), (10 * i, 0, 0)) for i in range(3)]
    for rel in ("source/s1.jpg", "source/moving.webp", "driving/d1.gif", "driving/d2.webp", "driving/still.png"):
        (tmp_path / rel).parent.mkdir(exist_ok=True)
    frames[0].save(tmp_path / "source/s1.jpg")
    for rel in ("source/moving.webp", "driving/d1.gif", "driving/d2.webp"):
        frames[0].save(tmp_path / rel, save_all=True, append_images=frames[1:], duration=40, loop=0)
    frames[0].save(tmp_path / "driving/still.png")
    jobs = read_jobs(tmp_path, tmp_path / "out")
    assert [j.output.name for j in jobs] == ["s1__d1.mp4", "s1__d2.mp4", "s1__still.mp4"]


def test_shards_split_the_jobs_disjointly_and_completely():
    jobs = [BatchJob(Path(f"{i}.jpg"), "preset:nod", Path(f"{i}.mp4")) for i in range(11)]
    parts = [shard(jobs, i, 3) for i in range(3)]
    assert sorted(j.output.name for p in parts for j in p) == sorted(j.output.name for j in jobs)
    assert [len(p) for p in parts] == [4, 4, 3]


class FakeReenactor:
    def __init__(self):
        self.calls = []

    def run(self, source, driving, output, overwrite=False, **options):
        self.calls.append(source.name)
        if source.name == "bad.jpg":
            raise NoFaceError("no face found in bad.jpg")
        Path(output).write_bytes(b"video")


def test_run_batch_reports_failures_and_skips_finished_jobs(tmp_path):
    jobs = [BatchJob(Path(n), "preset:nod", tmp_path / "out" / f"{n}.mp4") for n in ("a.jpg", "bad.jpg", "c.jpg")]
    fake = FakeReenactor()
    report = run_batch(fake, jobs)
    assert [j.source.name for j in report.done] == ["a.jpg", "c.jpg"]
    assert [(j.source.name, e) for j, e in report.failed] == [("bad.jpg", "no face found in bad.jpg")]
    again = run_batch(fake, jobs)                 # resumes: finished outputs are skipped
    assert len(again.skipped) == 2 and fake.calls[-1] == "bad.jpg"


def test_batch_command_runs_every_job_with_one_generator(tmp_path, astronaut, monkeypatch):
    import reenact.pipeline
    from reenact.cli import main
    from reenact.io.images import write_image

    made = []
    real = reenact.pipeline.make_generator
    monkeypatch.setattr(reenact.pipeline, "make_generator", lambda name, cfg: made.append(name) or real(name, cfg))
    write_image(tmp_path / "face.png", astronaut)
    (tmp_path / "jobs.txt").write_text("face.png preset:blink\nface.png preset:nod\n")
    code = main(["batch", str(tmp_path / "jobs.txt"), "-o", str(tmp_path / "out"), "--engine", "warp", "-q",
                 "--set", "run.preset_seconds=0.2"])
    assert code == 0 and made == ["warp"]
    assert sorted(p.name for p in (tmp_path / "out").glob("*.mp4")) == ["face__blink.mp4", "face__nod.mp4"]
