"""Guidance folders on disk: the official layout, lossless files, atomic writes, previews."""

from __future__ import annotations


import numpy as np
import pytest
import torch
from PIL import Image

from reenact.errors import InputError, OutputError
from reenact.render import GuidanceFrames, GuidanceWriter, preview_frame, read_guidance, write_guidance


def _frames(n: int, size: int = 24, seed: int = 0) -> GuidanceFrames:
    g = torch.Generator().manual_seed(seed)
    mask = torch.rand(n, size, size, generator=g) > 0.3
    return GuidanceFrames.from_dense(
        depth=torch.rand(n, size, size, generator=g) * mask,
        normal=(torch.rand(n, size, size, 3, generator=g) * 2 - 1) * mask[..., None],
        render=torch.rand(n, size, size, 3, generator=g) * 1.2 * mask[..., None],
        mask=mask, meta={"albedo": "constant 0.7,0.55,0.45", "light": "default"})


def test_writes_the_official_folder_layout_losslessly(tmp_path):
    batches = [_frames(3, seed=1), _frames(2, seed=2)]
    out = write_guidance(tmp_path / "guidance", batches, total=5, meta={"alignment": "absolute"})
    for name in ("depth", "normal", "render"):
        files = sorted((out / name).iterdir())
        assert [f.name for f in files] == [f"{i:04d}.png" for i in range(5)]
        with Image.open(files[0]) as img:
            assert img.mode == "RGB" and img.format == "PNG" and img.size == (24, 24)
    maps, meta = read_guidance(out)
    expected = {k: np.concatenate([b.to_uint8()[k] for b in batches]) for k in ("depth", "normal", "render")}
    for name in expected:
        np.testing.assert_array_equal(maps[name], expected[name])
    assert (maps["depth"][..., 0] == maps["depth"][..., 1]).all()
    assert meta["frames"] == 5 and meta["size"] == [24, 24] and meta["alignment"] == "absolute"
    assert meta["albedo"].startswith("constant") and meta["format"].startswith("png")
    assert not [p for p in out.iterdir() if p.name.startswith(".")]      # no staging left behind


def test_existing_maps_are_not_overwritten_unless_asked(tmp_path):
    out = write_guidance(tmp_path / "g", [_frames(2, seed=1)])
    before = (out / "depth" / "000000.png").read_bytes()
    with pytest.raises(OutputError, match="already holds"):
        write_guidance(out, [_frames(1, seed=2)])
    assert (out / "depth" / "000000.png").read_bytes() == before
    write_guidance(out, [_frames(1, seed=2)], overwrite=True)
    assert len(list((out / "depth").iterdir())) == 1
    assert (out / "depth" / "000000.png").read_bytes() != before


def test_a_failed_run_leaves_no_partial_output(tmp_path):
    def failing():
        yield _frames(2)
        raise RuntimeError("tracker crashed")

    with pytest.raises(RuntimeError):
        write_guidance(tmp_path / "g", failing())
    assert not (tmp_path / "g").exists()
    keep = tmp_path / "existing"
    keep.mkdir()
    (keep / "notes.txt").write_text("mine")
    with pytest.raises(RuntimeError):
        write_guidance(keep, failing())
    assert sorted(p.name for p in keep.iterdir()) == ["notes.txt"]


def test_no_frames_is_an_error(tmp_path):
    with pytest.raises(OutputError, match="no guidance frames"):
        write_guidance(tmp_path / "g", [])
    assert not (tmp_path / "g").exists()


def test_reading_a_non_guidance_folder_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="no PNG or JPEG frames"):
        read_guidance(tmp_path)


def test_on_batch_sees_every_batch_once(tmp_path):
    seen = []
    write_guidance(tmp_path / "g", [_frames(2, seed=1), _frames(3, seed=2)], on_batch=lambda b: seen.append(len(b)))
    assert seen == [2, 3]


def test_writer_streams_batches_in_order(tmp_path):
    frames = [_frames(1, seed=i) for i in range(3)]
    with GuidanceWriter(tmp_path / "g", total=3) as writer:
        for f in frames:
            writer.write(f)
    maps, _ = read_guidance(tmp_path / "g")
    for i, f in enumerate(frames):
        np.testing.assert_array_equal(maps["render"][i], f.to_uint8()["render"][0])


def test_preview_row_puts_five_panels_side_by_side():
    source = np.full((512, 512, 3), 200, np.uint8)
    driving = np.zeros((360, 640, 3), np.uint8)
    maps = _frames(1, size=512).to_uint8()
    row = preview_frame(source, driving, maps["depth"][0], maps["normal"][0], maps["render"][0], height=128,
                        labels=False)
    assert row.shape == (128, 128 + 228 + 3 * 128, 3) and row.dtype == np.uint8
    assert (row[:, :128] == 200).all() and (row[:, 128:356] == 0).all()
    assert row.shape[1] % 2 == 0


def test_jpeg_maps_are_byte_identical_to_the_official_save_image(tmp_path):
    try:
        from torchvision.utils import save_image
    except ImportError:   # what save_image does for a .jpg: round to uint8, Pillow's default JPEG save
        def save_image(tensor, path):
            array = tensor.mul(255).add_(0.5).clamp_(0, 255).permute(1, 2, 0).to(torch.uint8).numpy()
            Image.fromarray(array).save(path)
    frames = _frames(2, size=64)
    write_guidance(tmp_path / "g", [frames], total=2, image_format="jpg")
    maps = frames.to_uint8()
    for name in ("depth", "normal", "render"):
        ours = (tmp_path / "g" / name / "0001.jpg").read_bytes()
        official = tmp_path / f"{name}.jpg"   # render_and_transfer.py: save_image(tensor in [0, 1], "<frame>.jpg")
        save_image(torch.from_numpy(maps[name][1]).permute(2, 0, 1).float() / 255, official)
        assert ours == official.read_bytes()
        with Image.open(tmp_path / "g" / name / "0001.jpg") as img:
            assert img.format == "JPEG"
    read, meta = read_guidance(tmp_path / "g")
    assert meta["format"].startswith("jpeg") and read["render"].shape == (2, 64, 64, 3)
    assert not (tmp_path / "g" / "depth" / "0000.png").exists()
    with pytest.raises(InputError, match="png or jpg"):
        write_guidance(tmp_path / "h", [frames], image_format="webp")


def test_overwrite_never_replaces_map_folders_reenact_did_not_write(tmp_path):
    import numpy as np
    import torch

    from reenact.errors import OutputError
    from reenact.render.maps import GuidanceFrames
    from reenact.render.write import write_guidance

    own = tmp_path / "out" / "depth"
    own.mkdir(parents=True)
    (own / "mine.png").write_bytes(b"user data")
    depth = torch.rand(1, 8, 8)
    batch = GuidanceFrames.from_dense(depth, torch.rand(1, 8, 8, 3), torch.rand(1, 8, 8, 3), torch.ones(1, 8, 8, dtype=torch.bool))
    with pytest.raises(OutputError, match="reenact did not write"):
        write_guidance(tmp_path / "out", [batch], total=1, overwrite=True)
    assert (own / "mine.png").read_bytes() == b"user data"
    # maps reenact wrote itself are replaced
    write_guidance(tmp_path / "fresh", [batch], total=1)
    write_guidance(tmp_path / "fresh", [batch], total=1, overwrite=True)
    assert np.asarray(sorted(p.name for p in (tmp_path / "fresh" / "depth").iterdir())).size == 1
