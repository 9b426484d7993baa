import io
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from portrait_helpers import SHARED_DATA, shared_data, similarity, warp
from reenact.errors import AssetError
from reenact.eval import face_metrics as fm
from reenact.eval.estimators import Estimators


def _jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, "JPEG", quality=quality)
    return np.asarray(Image.open(buf).convert("RGB"))


def same_person_variants(astronaut: np.ndarray) -> dict[str, np.ndarray]:
    return {
        "mirrored": np.ascontiguousarray(astronaut[:, ::-1]),
        "rotated 15°": warp(astronaut, similarity(15, 1.0, 0, 0, centre=(220.0, 130.0))),
        "zoomed out 0.6": warp(astronaut, similarity(0, 0.6, 0, 0, centre=(220.0, 130.0))),
        "brighter": np.clip(astronaut.astype(int) + 30, 0, 255).astype(np.uint8),
        "jpeg q20": _jpeg(astronaut, 20),
        "blurred": cv2.GaussianBlur(astronaut, (0, 0), 2.0),
    }


def _embedding(est, image):
    reading = est.reading(image, identity=True)
    assert reading is not None and reading.identity is not None
    return reading.identity


def test_csim_of_the_same_portrait_under_transforms_is_high(estimators, astronaut):
    ref = _embedding(estimators, astronaut)
    assert ref.shape == (128,)
    for name, image in same_person_variants(astronaut).items():
        assert fm.cosine_similarity(ref, _embedding(estimators, image)) > 0.95, name


@pytest.mark.slow
@shared_data
def test_csim_ranks_same_person_pairs_above_different_person_pairs(estimators, astronaut):
    from reenact.io.images import read_image
    from reenact.io.video import iter_frames

    ref = _embedding(estimators, astronaut)
    same = [fm.cosine_similarity(ref, _embedding(estimators, v)) for v in same_person_variants(astronaut).values()]
    people = {p.stem: _embedding(estimators, read_image(p)) for p in sorted((SHARED_DATA / "source").glob("*.jpg"))}
    for clip in sorted((SHARED_DATA / "driving").glob("*.mp4")):
        frames = list(iter_frames(clip, max_frames=60))
        first, later = _embedding(estimators, frames[0]), _embedding(estimators, frames[-1])
        same.append(fm.cosine_similarity(first, later))      # one person, two moments of a clip
        people[clip.stem] = first
    assert len(people) >= 4
    names = sorted(people)
    different = [fm.cosine_similarity(ref, people[n]) for n in names]
    different += [fm.cosine_similarity(people[a], people[b]) for i, a in enumerate(names) for b in names[i + 1:]]
    assert min(same) > max(different), (min(same), max(different))


def _rotated(astronaut, angle):
    return warp(astronaut, similarity(angle, 1.0, 0, 0, centre=(220.0, 130.0)))


@pytest.mark.parametrize("angle", [-12.0, 10.0, 20.0])
def test_head_roll_follows_an_in_plane_rotation_and_apd_counts_it(estimators, astronaut, angle):
    base = estimators.reading(astronaut).angles
    turned = estimators.reading(_rotated(astronaut, angle)).angles
    # an image rotated counter-clockwise by `angle` rolls the head by -angle; yaw and pitch stay,
    # up to the few degrees of noise of a PnP on whole-pixel dlib landmarks
    assert turned[2] - base[2] == pytest.approx(-angle, abs=2.0)
    assert np.abs(turned[:2] - base[:2]).max() < 5.0
    assert fm.apd(base[None], turned[None]) == pytest.approx(abs(angle) / 3, abs=1.5)


def test_akd_of_a_shifted_portrait_is_the_shift(estimators, astronaut):
    shifted = warp(astronaut, similarity(0, 1.0, 8.0, 6.0))
    a, b = estimators.reading(astronaut).keypoints, estimators.reading(shifted).keypoints
    assert a.shape == (68, 2)
    assert fm.akd(a[None], b[None], frame_side=512) == pytest.approx(10.0 * 256 / 512, abs=0.6)


def test_expression_reading_sees_an_unchanged_face_as_unchanged(estimators, astronaut):
    a = estimators.reading(astronaut).expression
    b = estimators.reading(astronaut.copy()).expression
    assert a.shape == (51,) and fm.aed(a[None], b[None]) == 0.0


def test_every_metric_names_its_estimator_and_version(estimators):
    for metric in ("l1", "psnr", "ssim", "flicker", "csim", "aed", "apd", "akd", "bg_rmse"):
        name, version = estimators.estimator(metric)
        assert name and version, metric
    assert "dlib" in estimators.estimator("csim")[0] and "sha256:" in estimators.estimator("csim")[1]
    assert "dlib" in estimators.estimator("apd")[0] and "PnP" in estimators.estimator("apd")[0]
    assert "MediaPipe" in estimators.estimator("aed")[0]
    for metric in ("lpips", "fid", "fvd"):
        assert estimators.estimator(metric) is None
        assert estimators.reasons[metric].startswith("not measured: /nonexistent-weights/")
        assert estimators.reasons[metric].endswith(" missing")


def test_without_dlib_mediapipe_stands_in_and_says_so(astronaut, monkeypatch, estimators):
    import reenact.eval.estimators.dlib_faces as dlib_faces

    monkeypatch.setattr(dlib_faces, "dlib_missing_reason",
                        lambda weights_dir, need_recognition=False: "not measured: dlib missing")
    est = Estimators.load(Path("/nonexistent-weights"), "cpu", {"csim", "aed", "apd", "akd", "bg_rmse"})
    try:
        assert est.dlib is None and est.estimator("csim") is None
        assert est.reasons["csim"] == "not measured: dlib missing"
        assert "MediaPipe" in est.estimator("akd")[0] and "MediaPipe" in est.estimator("apd")[0]
        reading = est.reading(astronaut)
        assert reading.keypoints.shape == (68, 2) and reading.angles.shape == (3,)
        dlib_points = estimators.reading(astronaut).keypoints
        eyes = np.linalg.norm(dlib_points[36:42].mean(0) - dlib_points[42:48].mean(0))
        # MediaPipe's landmarks at the dlib-68 positions land within a tenth of the eye distance
        assert np.linalg.norm(reading.keypoints - dlib_points, axis=1).mean() < 0.1 * eyes
    finally:
        est.close()


# -- weight files the user supplies: the loaders, tried on random weights in the real layouts ------

def _lpips_files(tmp_path: Path) -> tuple[Path, Path]:
    import torch

    from reenact.eval.estimators.lpips import CHANNELS, alexnet_features

    torch.manual_seed(0)
    backbone = {f"features.{k}": v for k, v in alexnet_features().state_dict().items()}
    backbone["classifier.1.weight"] = torch.zeros(4, 4)      # torchvision's file has the classifier too
    linear = {f"lin{i}.model.1.weight": torch.rand(1, c, 1, 1) for i, c in enumerate(CHANNELS)}
    torch.save(backbone, tmp_path / "alexnet-owt-7be5be79.pth")
    torch.save(linear, tmp_path / "lpips_alex_v0.1.pth")
    return tmp_path / "alexnet-owt-7be5be79.pth", tmp_path / "lpips_alex_v0.1.pth"


@pytest.mark.slow
def test_lpips_loads_the_real_file_layout_and_behaves_as_a_distance(tmp_path, astronaut):
    _lpips_files(tmp_path)
    est = Estimators.load(tmp_path, "cpu", {"lpips"})
    lp = est.lpips
    assert est.estimator("lpips")[0] == "LPIPS v0.1 AlexNet" and "lpips_alex_v0.1.pth sha256:" in lp.version
    img = np.ascontiguousarray(astronaut[:224, 144:368])
    rng = np.random.default_rng(7)
    noisy = [np.clip(img + rng.normal(0, s, img.shape), 0, 255).astype(np.uint8) for s in (5, 20, 60)]
    assert lp(img, img) == 0.0
    d = [lp(img, n) for n in noisy]
    assert 0 < d[0] < d[1] < d[2]
    assert lp(noisy[1], img) == pytest.approx(d[1], rel=1e-5)


def test_lpips_refuses_files_of_another_layout(tmp_path):
    import torch

    _lpips_files(tmp_path)
    torch.save({"lin0.model.1.weight": torch.rand(1, 64, 1, 1)}, tmp_path / "lpips_alex_v0.1.pth")
    with pytest.raises(AssetError, match="do not fit"):
        Estimators.load(tmp_path, "cpu", {"lpips"})
    (tmp_path / "lpips_alex_v0.1.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(AssetError, match="could not be read"):
        Estimators.load(tmp_path, "cpu", {"lpips"})


def test_arcface_loads_an_iresnet_state_dict_of_any_depth_and_embeds_aligned_faces(tmp_path, astronaut, estimators):
    import torch

    from reenact.eval.estimators.arcface import ArcFace, IResNet

    torch.manual_seed(0)
    net = IResNet((2, 2, 2, 2), embedding=64).eval()     # the real files embed in 512-d; smaller is quicker
    torch.save({k: v.half() for k, v in net.state_dict().items()}, tmp_path / "arcface_backbone.pth")  # fp16, as shipped
    arc = ArcFace(tmp_path / "arcface_backbone.pth")
    assert arc.name == "ArcFace iResNet-18"
    points = estimators.reading(astronaut).keypoints
    e1, e2 = arc.embed(astronaut, points), arc.embed(astronaut, points)
    assert e1.shape == (64,) and np.isfinite(e1).all() and np.array_equal(e1, e2)
    torch.save({"conv1.weight": torch.zeros(64, 3, 3, 3)}, tmp_path / "arcface_backbone.pth")
    with pytest.raises(AssetError):
        ArcFace(tmp_path / "arcface_backbone.pth")


def test_fid_and_fvd_networks_load_from_torchscript_files(tmp_path):
    import torch

    from tests.eval.tiny_scripts import TinyI3D, TinyInception

    with pytest.warns((DeprecationWarning, FutureWarning)):  # torch.jit is deprecated (the wording varies by torch version)
        torch.jit.save(torch.jit.script(TinyInception()), str(tmp_path / "inception-2015-12-05.pt"))
        torch.jit.save(torch.jit.script(TinyI3D()), str(tmp_path / "i3d_torchscript.pt"))
    est = Estimators.load(tmp_path, "cpu", {"fid", "fvd"})
    frames = [np.full((64, 48, 3), v, np.uint8) for v in (10, 200)]
    feats = est.inception(frames)
    assert feats.shape == (2, 6) and feats[0, 0] == pytest.approx(10.0) and feats[1, 0] == pytest.approx(200.0)
    clip = np.stack([est.i3d.prepare(np.full((64, 48, 3), 255, np.uint8))] * 4)
    assert clip.shape == (4, 224, 224, 3)
    assert est.i3d([clip, clip]) == pytest.approx(np.ones((2, 5)))      # scaled to [-1, 1]: 255 -> 1
    (tmp_path / "i3d_torchscript.pt").write_bytes(b"garbage")
    with pytest.raises(AssetError, match="not a TorchScript archive"):
        Estimators.load(tmp_path, "cpu", {"fvd"})


def test_doctor_lists_every_evaluation_weight_file(tmp_path):
    from reenact.eval.weights import WEIGHT_FILES, weight_status

    (tmp_path / "i3d_torchscript.pt").write_bytes(b"x")
    rows = {r.name.split(": ")[1]: r for r in weight_status(tmp_path)}
    assert set(rows) == {w.filename for w in WEIGHT_FILES.values()}
    assert rows["i3d_torchscript.pt"].found and rows["i3d_torchscript.pt"].note == "used for fvd"
    assert not rows["inception-2015-12-05.pt"].found
    assert rows["inception-2015-12-05.pt"].note.startswith("optional (without it FID is not measured)")
    assert all(r.group == "eval" and not r.required for r in rows.values())
