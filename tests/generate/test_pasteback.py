import numpy as np

from reenact.faces.crop import warp_to_crop
from reenact.generate.pasteback import ColourTransform, feathered_mask, match_colours, paste_back


def test_pasted_crop_lands_where_it_came_from(astronaut):
    m = np.array([[2.0, 0, -330], [0, 2.0, -90]], np.float32)
    frame = np.zeros_like(astronaut)
    crop = np.zeros((512, 512, 3), np.uint8)
    crop[255:258, 300:303] = 255  # a 3x3 marker at crop (301, 256)
    out = paste_back(frame, crop, m, feather=0.02)
    ys, xs = np.nonzero(out[..., 0] > 60)
    centre = np.array([xs.mean(), ys.mean()])
    expected = np.array([(301 + 330) / 2.0, (256 + 90) / 2.0])
    assert np.abs(centre - expected).max() <= 1.0


def test_untouched_crop_pastes_back_invisibly_and_outside_stays_exact(astronaut):
    m = np.array([[1.5, 0, -200], [0, 1.5, -40]], np.float32)
    crop = warp_to_crop(astronaut, m, 512)
    out = paste_back(astronaut, crop, m)
    inside = (slice(60, 280), slice(170, 440))
    assert np.abs(out[inside].astype(float) - astronaut[inside]).mean() < 3
    far = (slice(420, 512), slice(0, 100))  # outside the crop: alpha is 0
    assert np.array_equal(out[far], astronaut[far])


def test_colour_matching_removes_a_cast(astronaut):
    ref = astronaut[:256, 128:384]
    tinted = np.clip(ref.astype(int) + [30, -10, -20], 0, 255).astype(np.uint8)
    mask = np.ones(ref.shape[:2], bool)
    fixed = match_colours(tinted, ref, mask)
    assert np.abs(fixed.astype(float).mean((0, 1)) - ref.mean((0, 1))).max() < 2.5
    assert np.abs(tinted.astype(float).mean((0, 1)) - ref.mean((0, 1))).max() > 15


def test_feathered_mask_is_one_inside_zero_at_edges():
    m = feathered_mask(100, 0.1)
    assert m[50, 50] == 1 and m[0, 50] == 0 and m[50, 99] == 0 and 0 < m[5, 50] < 1


def test_one_colour_transform_per_clip_keeps_everything_but_the_opening_mouth_unchanged(astronaut):
    m = np.array([[1.5, 0, -200], [0, 1.5, -40]], np.float32)
    reference = warp_to_crop(astronaut, m, 512)
    drifted = np.clip(reference.astype(int) + [12, 4, -6], 0, 255).astype(np.uint8)   # generator colour drift
    mouth = (slice(330, 432), slice(205, 307))          # ~4% of the crop
    clip = [drifted]
    for _ in range(7):
        frame = drifted.copy()
        frame[mouth] = 20                                # a dark open mouth
        clip.append(frame)
    colour = ColourTransform.fit(clip, reference, feathered_mask(512) > 0.5)
    pasted = [paste_back(astronaut, c, m, colour=colour) for c in clip]
    outside = np.ones(astronaut.shape[:2], bool)
    y0, x0 = int(mouth[0].start / 1.5 + 40 / 1.5) - 3, int(mouth[1].start / 1.5 + 200 / 1.5) - 3
    outside[y0:y0 + 75, x0:x0 + 75] = False             # the mouth box in the full picture, with a margin
    for frame in pasted[1:]:
        assert np.abs(frame[outside].astype(int) - pasted[0][outside]).max() <= 1
    # the cast is gone for the whole clip
    assert np.abs(pasted[0][outside].mean(0) - astronaut[outside].mean(0)).max() < 3
    # a per-frame fit would brighten everything else when the mouth opens (brightness pumping)
    per_frame = [paste_back(astronaut, match_colours(c, reference, feathered_mask(512) > 0.5), m) for c in clip[:2]]
    inside_face = (slice(90, 200), slice(200, 330))
    assert per_frame[1][inside_face].mean() - per_frame[0][inside_face].mean() > 2
