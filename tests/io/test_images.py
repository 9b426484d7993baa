import numpy as np
import pytest
from PIL import Image

from reenact.errors import InputError
from reenact.io.images import read_image, write_image


def test_exif_orientation_is_applied(tmp_path, astronaut):
    img = Image.fromarray(astronaut[:, :400])  # 512 high, 400 wide
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    img.save(tmp_path / "rot.jpg", exif=exif, quality=95)
    out = read_image(tmp_path / "rot.jpg")
    assert out.shape == (400, 512, 3)
    expected = np.rot90(astronaut[:, :400], k=-1)
    assert np.abs(out.astype(int) - expected).mean() < 3


def test_a_phones_heic_photo_reads_upright(tmp_path, astronaut):
    """An iPhone's HEIC, taken in portrait: its container turns it (pillow-heif writes EXIF
    orientation 6 as such a turn); read upright once, not twice."""
    pillow_heif = pytest.importorskip("pillow_heif", reason="pip install reenact[heic]")
    pillow_heif.register_heif_opener()
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(astronaut[:, :400]).save(tmp_path / "IMG_0001.HEIC", exif=exif.tobytes(), quality=95)
    out = read_image(tmp_path / "IMG_0001.HEIC")
    assert out.shape == (400, 512, 3)
    assert np.abs(out.astype(int) - np.rot90(astronaut[:, :400], k=-1)).mean() < 4


def test_heic_without_pillow_heif_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "pillow_heif", None)     # as if not installed
    (tmp_path / "IMG_0002.heic").write_bytes(b"\0\0\0\x18ftypheic")
    with pytest.raises(InputError, match="HEIC/HEIF pictures need pillow-heif: pip install pillow-heif"):
        read_image(tmp_path / "IMG_0002.heic")


def test_rgba_grey_and_16bit_become_rgb8(tmp_path, astronaut):
    rgba = np.dstack([astronaut, np.full(astronaut.shape[:2], 255, np.uint8)])
    rgba[:10, :10, 3] = 0
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    out = read_image(tmp_path / "a.png")
    assert out.dtype == np.uint8 and out.shape == (512, 512, 3)
    assert (out[:10, :10] == 255).all() and (out[20:, 20:] == astronaut[20:, 20:]).all()

    grey = astronaut.mean(-1).astype(np.uint8)
    Image.fromarray(grey, "L").save(tmp_path / "g.png")
    out = read_image(tmp_path / "g.png")
    assert out.shape == (512, 512, 3) and (out[..., 0] == grey).all() and (out[..., 2] == grey).all()

    deep = (grey.astype(np.uint16) * 257)
    Image.fromarray(deep).save(tmp_path / "d16.png")
    out = read_image(tmp_path / "d16.png")
    assert np.abs(out[..., 1].astype(int) - grey).max() <= 1


def test_bad_images_raise_input_error(tmp_path, astronaut):
    with pytest.raises(InputError, match="not found"):
        read_image(tmp_path / "nope.jpg")
    with pytest.raises(InputError, match="directory"):
        read_image(tmp_path)
    (tmp_path / "junk.jpg").write_bytes(b"this is not an image")
    with pytest.raises(InputError, match="not an image"):
        read_image(tmp_path / "junk.jpg")
    write_image(tmp_path / "full.jpg", astronaut)
    data = (tmp_path / "full.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 3])
    with pytest.raises(InputError, match="truncated|corrupt"):
        read_image(tmp_path / "cut.jpg")
