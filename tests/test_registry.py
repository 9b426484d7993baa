"""Adding a tracker or a generator is one module plus one registry entry: proven with dummies."""

import numpy as np

from reenact import Reenactor
from reenact.generate import base as generators
from reenact.io.video import iter_frames, probe_video
from reenact.tracking import base as trackers
from reenact.tracking.mesh_tracker import MeshTracker


class DummyTracker(MeshTracker):
    """A new backend producing mesh-geometry tracks (as, say, a different landmark model would)."""

    name = "dummy"
    calls = 0

    def track(self, face_track, progress=None):
        DummyTracker.calls += 1
        head = super().track(face_track, progress)
        assert head.backend == "dummy" and head.geometry == "mesh"
        return head


class DummyGenerator:
    """A new engine: paints each output frame with its aligned mouth opening, as grey levels."""

    name = "dummy"
    trackers = ("dummy",)
    renders_guidance = False

    @classmethod
    def readiness(cls, cfg, inventory, device):
        return None

    @classmethod
    def from_cfg(cls, cfg):
        return cls()

    def frames(self, source, aligned, pasteback, progress=None):
        assert source.head.backend == "dummy"
        for points in aligned.points:
            opening = float(points[14, 1] - points[13, 1])   # lower minus upper inner lip, crop px
            yield np.full((64, 64, 3), int(np.clip(opening * 4, 0, 255)), np.uint8)


def test_a_registered_tracker_and_generator_run_the_main_job(tmp_path, astronaut, monkeypatch):
    from reenact.io.images import write_image

    monkeypatch.setitem(trackers.TRACKERS.entries, "dummy", f"{__name__}:DummyTracker")
    monkeypatch.setitem(generators.GENERATORS.entries, "dummy", f"{__name__}:DummyGenerator")
    write_image(tmp_path / "face.png", astronaut)
    result = Reenactor(overrides=["run.engine=dummy", f"paths.cache_dir={tmp_path / 'cache'}"]).run(
        tmp_path / "face.png", "preset:talk", tmp_path / "out.mp4", preset_seconds=1.0)
    assert (result.plan.engine, result.plan.tracker, result.plan.alignment) == ("dummy", "dummy", "relative")
    assert DummyTracker.calls == 2 and result.frames == 25
    info = probe_video(result.output)
    assert (info.width, info.height, info.frame_count) == (64, 64, 25)
    grey = np.array([f.mean() for f in iter_frames(result.output)])
    assert grey.max() - grey.min() > 20          # the talk preset's jaw reached the new engine


def test_register_functions_add_to_the_name_lists(monkeypatch):
    monkeypatch.setattr(trackers.TRACKERS, "entries", dict(trackers.TRACKERS.entries))
    monkeypatch.setattr(generators.GENERATORS, "entries", dict(generators.GENERATORS.entries))
    trackers.register_tracker("dummy", f"{__name__}:DummyTracker")
    generators.register_generator("dummy", f"{__name__}:DummyGenerator")
    assert trackers.available_backends()[-1] == "dummy" and generators.available_generators()[-1] == "dummy"
    assert trackers.tracker_class("dummy") is DummyTracker
    assert generators.generator_class("dummy") is DummyGenerator
