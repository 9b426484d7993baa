"""Write a SYNTHETIC TEST HEAD in FLAME's file formats, for reenact's tests only.

This is not a face model and must never be offered to users as one. It exists so that the FLAME
loader, forward pass and tracker can be tested without the licensed FLAME files: a small closed
head-like mesh (a deformed icosphere plus two eyeballs, ~2.6k vertices) with the same pickle
structure and field names as FLAME 2020 (`v_template`, `shapedirs` 300 identity + 100
expression columns, `posedirs`, sparse `J_regressor`, `kintree_table`, `weights`, `f`), smooth
orthogonal shape and expression bases, neck/jaw/eye joints with smooth skinning weights and
pose correctives, and its own landmark embeddings in the DECA, RingNet and SMIRK file formats.

    python tools/make_test_head.py OUT_DIR        # writes the files listed in `write_test_head`
    python tools/make_test_head.py OUT_DIR --size flame   # FLAME's size: 5023 vertices, ~10k triangles

`--size flame` (for benchmarks: rendering cost follows the triangle count) builds the head from a
denser, evenly spread sphere so that head + eyeballs have FLAME's 5023 vertices and 10,034
triangles (FLAME: 9976); the default, smaller head is what the tests use.

Geometry follows FLAME's conventions: metres, x to the subject's left, y up, z toward the viewer.
"""

from __future__ import annotations

import argparse
import pickle
import sys
import types
from contextlib import contextmanager
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from reenact.flame.landmarks import MEDIAPIPE_TO_IBUG68, N_DYNAMIC_ROWS  # noqa: E402
from reenact.faces.topology import load_canonical_face  # noqa: E402

NOTE = "SYNTHETIC TEST HEAD written by reenact tools/make_test_head.py - not FLAME, not a face model"
N_ID, N_EXP = 300, 100
EYE_X, EYE_Y, EYE_RADIUS = 0.029, 0.026, 0.0115
MOUTH_Y = -0.0372  # between MediaPipe's inner-lip midpoints 13 and 14 once placed on this head


# ----------------------------------------------------------------------------------------------
# mesh

def icosphere(level: int) -> tuple[np.ndarray, np.ndarray]:
    """Unit icosphere, faces wound counter-clockwise seen from outside."""
    t = (1 + 5 ** 0.5) / 2
    v = np.array([[-1, t, 0], [1, t, 0], [-1, -t, 0], [1, -t, 0], [0, -1, t], [0, 1, t], [0, -1, -t], [0, 1, -t],
                  [t, 0, -1], [t, 0, 1], [-t, 0, -1], [-t, 0, 1]], np.float64)
    f = np.array([[0, 11, 5], [0, 5, 1], [0, 1, 7], [0, 7, 10], [0, 10, 11], [1, 5, 9], [5, 11, 4], [11, 10, 2],
                  [10, 7, 6], [7, 1, 8], [3, 9, 4], [3, 4, 2], [3, 2, 6], [3, 6, 8], [3, 8, 9], [4, 9, 5],
                  [2, 4, 11], [6, 2, 10], [8, 6, 7], [9, 8, 1]], np.int64)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    for _ in range(level):
        edges = np.sort(np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]]), axis=1)
        uniq, inverse = np.unique(edges, axis=0, return_inverse=True)
        mid = v[uniq].mean(axis=1)
        mid /= np.linalg.norm(mid, axis=1, keepdims=True)
        m = len(v) + inverse.reshape(3, -1)  # midpoints of edges 01, 12, 20 per face
        v = np.concatenate([v, mid])
        a, b, c = f.T
        f = np.concatenate([np.stack([a, m[0], m[2]], 1), np.stack([b, m[1], m[0]], 1),
                            np.stack([c, m[2], m[1]], 1), np.stack([m[0], m[1], m[2]], 1)])
    return v, f


# Head vertices of the FLAME-size variant: with the two 42-vertex eyeballs, FLAME's 5023.
FLAME_SIZE_HEAD_VERTICES = 5023 - 2 * 42
SIZES = ("test", "flame")


def fibonacci_sphere(n: int) -> tuple[np.ndarray, np.ndarray]:
    """n near-evenly spread unit vectors (golden-angle spiral) and their convex hull's 2n - 4
    triangles, wound counter-clockwise seen from outside."""
    from scipy.spatial import ConvexHull

    k = np.arange(n) + 0.5
    z = 1 - 2 * k / n
    r = np.sqrt(1 - z ** 2)
    phi = np.pi * (3 - 5 ** 0.5) * k
    v = np.stack([r * np.cos(phi), r * np.sin(phi), z], 1)
    f = ConvexHull(v).simplices.astype(np.int64)
    a, b, c = v[f[:, 0]], v[f[:, 1]], v[f[:, 2]]
    inward = np.einsum("ij,ij->i", np.cross(b - a, c - a), a + b + c) < 0
    f[inward] = f[inward][:, ::-1]
    return v, f


def _gauss(x: np.ndarray, y: np.ndarray, cx: float, cy: float, sx: float, sy: float) -> np.ndarray:
    return np.exp(-((x - cx) ** 2) / (2 * sx ** 2) - ((y - cy) ** 2) / (2 * sy ** 2))


def head_surface(d: np.ndarray) -> np.ndarray:
    """Map unit directions to a head-like surface: a flattened ellipsoid with face relief."""
    x, y = 0.078 * d[:, 0], 0.105 * d[:, 1]
    front = np.clip(d[:, 2], 0, None)
    z = np.where(d[:, 2] > 0, 0.088 * front ** 0.75, 0.1 * d[:, 2])
    relief = (0.020 * _gauss(x, y, 0, 0.006, 0.010, 0.017)       # nose ridge
              + 0.006 * _gauss(x, y, 0, -0.004, 0.008, 0.007)    # nose tip
              - 0.010 * _gauss(x, y, EYE_X, EYE_Y, 0.012, 0.010) - 0.010 * _gauss(x, y, -EYE_X, EYE_Y, 0.012, 0.010)
              + 0.006 * _gauss(x, y, 0, 0.044, 0.045, 0.008)     # brow ridge
              + 0.005 * _gauss(x, y, 0, MOUTH_Y, 0.02, 0.008)    # lips
              + 0.008 * _gauss(x, y, 0, -0.086, 0.02, 0.011))    # chin
    mask = np.clip(d[:, 2] / 0.4, 0, 1) ** 2
    return np.stack([x, y, z + relief * mask], axis=1)


def _eye_depth() -> float:
    """z of the eyeball centres: just behind the skin of the eye socket."""
    d = np.array([EYE_X / 0.078, EYE_Y / 0.105, 0.0])
    d[2] = np.sqrt(1 - d[0] ** 2 - d[1] ** 2)
    return float(head_surface(d[None])[0, 2] - 0.9 * EYE_RADIUS)


EYE_Z = _eye_depth()
# Joint locations on the template: root, neck, jaw (hinge-axis midpoint), left eye (+x), right eye.
JOINTS = np.array([[0, -0.088, -0.03], [0, -0.07, -0.025], [0, -0.018, -0.002],
                   [EYE_X, EYE_Y, EYE_Z], [-EYE_X, EYE_Y, EYE_Z]], np.float64)


def build_mesh(size: str = "test") -> dict:
    d, f_head = icosphere(4) if size == "test" else fibonacci_sphere(FLAME_SIZE_HEAD_VERTICES)
    head = head_surface(d)
    ev, ef = icosphere(1)
    verts, faces, part = [head], [f_head], [np.zeros(len(head), np.int64)]
    for joint, sx in ((3, 1.0), (4, -1.0)):  # left eye (+x) is joint 3, right eye joint 4
        centre = np.array([sx * EYE_X, EYE_Y, EYE_Z])
        faces.append(ef + sum(len(v) for v in verts))
        verts.append(centre + EYE_RADIUS * ev)
        part.append(np.full(len(ev), joint))
    v = np.concatenate(verts)
    return {"v": v, "f": np.concatenate(faces), "part": np.concatenate(part), "n_head": len(head),
            "n_head_faces": len(f_head), "eye_centres": JOINTS[3:].copy()}


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def skinning(mesh: dict) -> np.ndarray:
    v, part = mesh["v"], mesh["part"]
    x, y, z = v.T
    boundary = MOUTH_Y + (-0.016 - MOUTH_Y) * np.clip((np.abs(x) - 0.024) / 0.045, 0, 1)
    jaw = sigmoid((boundary - y) / 0.0012) * sigmoid(z / 0.008)
    root = sigmoid((-0.094 - y) / 0.005) * (1 - jaw)
    w = np.zeros((len(v), 5))
    w[:, 0], w[:, 2] = root, jaw
    w[:, 1] = 1 - root - jaw
    eyes = part > 0
    w[eyes] = 0
    w[eyes, part[eyes]] = 1
    return w


def joint_regressor(mesh: dict) -> np.ndarray:
    """Each joint a convex combination of vertices that reproduces its location on the template."""
    from scipy.optimize import nnls

    v, part = mesh["v"], mesh["part"]
    reg = np.zeros((5, len(v)))
    for j in range(5):
        if j >= 3:
            ids = np.flatnonzero(part == j)
            reg[j, ids] = 1 / len(ids)
            continue
        c = JOINTS[j]
        ids = np.flatnonzero((part == 0) & (np.abs(v[:, 1] - c[1]) < 0.006))
        a = np.vstack([v[ids].T, 100 * np.ones(len(ids))])
        w, _ = nnls(a, np.concatenate([c, [100.0]]))
        reg[j, ids] = w / w.sum()
    return reg


# ----------------------------------------------------------------------------------------------
# bases

def smooth_fields(points: np.ndarray, n: int, rng: np.random.Generator, wavelength: float) -> np.ndarray:
    """n smooth random vector fields on points, (V, 3, n): sums of random plane waves."""
    out = np.zeros((len(points), 3, n))
    for k in range(n):
        omega = rng.normal(size=(6, 3)) * (2 * np.pi / wavelength)
        phase = rng.uniform(0, 2 * np.pi, size=6)
        amp = rng.normal(size=(6, 3))
        out[:, :, k] = np.sin(points @ omega.T + phase) @ amp
    return out


def rigid_fields(points: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """(V, 3, 6): the 3 translations and 3 infinitesimal rotations about `centre`."""
    p = points - centre
    out = np.zeros((len(points), 3, 6))
    for a in range(3):
        out[:, a, a] = 1
        axis = np.eye(3)[a]
        out[:, :, 3 + a] = np.cross(axis, p)
    return out


def jaw_fields(mesh: dict, w: np.ndarray) -> np.ndarray:
    p = mesh["v"] - JOINTS[2]
    return np.stack([w[:, 2:3] * np.cross(np.eye(3)[a], p) for a in range(3)], axis=2)


def eyeballs_rigid(fields: np.ndarray, mesh: dict) -> np.ndarray:
    """Move each eyeball as a whole: its displacement is the field's value at the eyeball centre."""
    out = fields.copy()
    for j in (3, 4):
        ids = np.flatnonzero(mesh["part"] == j)
        out[ids] = fields[ids].mean(axis=0, keepdims=True)
    return out


def orthonormal_basis(fields: np.ndarray, remove: np.ndarray, sigma: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Orthogonalise fields (V,3,n) against `remove` (V,3,m) and each other; column k then has a
    weighted RMS vertex displacement of sigma[k] metres per unit coefficient."""
    import torch

    v = len(fields)
    sw = np.sqrt(weight)[:, None]
    a = torch.from_numpy((fields * sw[..., None]).reshape(v * 3, -1))
    r = torch.from_numpy((remove * sw[..., None]).reshape(v * 3, -1))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tall-skinny QR; more threads only fight over a shared CPU
    try:
        q_r = torch.linalg.qr(r).Q
        q = torch.linalg.qr(a - q_r @ (q_r.T @ a)).Q.numpy()
    finally:
        torch.set_num_threads(threads)
    q = q.reshape(v, 3, -1) / np.where(sw > 0, sw, 1)[..., None]
    return q * np.sqrt(weight.sum()) * sigma


def build_bases(mesh: dict, w: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    v, part = mesh["v"], mesh["part"]
    centre = np.array([0.0, 0.0, 0.0])
    ident = eyeballs_rigid(smooth_fields(v, N_ID, rng, wavelength=0.16), mesh)
    sig_id = 0.005 * (np.arange(N_ID) + 1.0) ** -0.6
    ones = np.ones(len(v))
    shape_dirs = orthonormal_basis(ident, rigid_fields(v, centre), sig_id, ones)

    face = sigmoid((v[:, 2] - 0.03) / 0.01) * (part == 0)  # expressions live on the face
    expr = smooth_fields(v, N_EXP, rng, wavelength=0.07) * face[:, None, None]
    expr = eyeballs_rigid(expr, mesh)
    sig_exp = 0.004 * (np.arange(N_EXP) + 1.0) ** -0.5
    remove = np.concatenate([rigid_fields(v, centre), jaw_fields(mesh, w)], axis=2)
    exp_dirs = orthonormal_basis(expr, remove, sig_exp, np.maximum(face, 1e-3))
    return shape_dirs, exp_dirs


def build_posedirs(mesh: dict, w: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    v = mesh["v"]
    posedirs = np.zeros((len(v), 3, 36))
    neck_region = sigmoid((-0.06 - v[:, 1]) / 0.01)
    jaw_region = np.clip(w[:, 2] * 1.5, 0, 1) * sigmoid((v[:, 2] + 0.01) / 0.01)
    posedirs[:, :, 0:9] = 0.01 * smooth_fields(v, 9, rng, 0.15) * neck_region[:, None, None] / 3
    posedirs[:, :, 9:18] = 0.01 * smooth_fields(v, 9, rng, 0.08) * jaw_region[:, None, None] / 3
    return posedirs  # eye correctives stay zero, as in FLAME


# ----------------------------------------------------------------------------------------------
# landmark embeddings

def ray_hits(origin: np.ndarray, dirs: np.ndarray, tri: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each ray, the farthest triangle hit: (face index or -1, barycentrics (3,), distance)."""
    v0, e1, e2 = tri[:, 0], tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]
    face = np.full(len(dirs), -1)
    bary = np.zeros((len(dirs), 3))
    dist = np.full(len(dirs), -np.inf)
    for i, (o, d) in enumerate(zip(origin, dirs)):
        p = np.cross(d, e2)
        det = np.einsum("ij,ij->i", e1, p)
        ok = np.abs(det) > 1e-14
        inv = np.where(ok, 1 / np.where(ok, det, 1), 0)
        s = o - v0
        u = np.einsum("ij,ij->i", s, p) * inv
        q = np.cross(s, e1)
        vv = (q @ d) * inv
        t = np.einsum("ij,ij->i", e2, q) * inv
        hit = ok & (u >= 0) & (vv >= 0) & (u + vv <= 1) & (t > 0)
        if hit.any():
            k = np.flatnonzero(hit)[np.argmax(t[hit])]
            face[i], dist[i] = k, t[k]
            bary[i] = [1 - u[k] - vv[k], u[k], vv[k]]
    return face, bary, dist


def mediapipe_embedding(mesh: dict) -> dict[str, np.ndarray]:
    """All 478 MediaPipe points on this head: the canonical face scaled onto the face and projected
    horizontally (from the head's vertical axis, so heights are kept) onto the skin, plus iris
    points on the eyeballs."""
    canon = load_canonical_face()["vertices"].astype(np.float64)  # cm, x right, y up, z to viewer
    s = 0.00912                                                   # eye-to-chin distance matched
    target = np.stack([s * canon[:, 0], EYE_Y + s * (canon[:, 1] - 2.66), 0.041 + s * canon[:, 2]], axis=1)
    origin = np.stack([np.zeros(len(target)), target[:, 1], np.full(len(target), -0.01)], axis=1)
    v, f = mesh["v"], mesh["f"]
    head_faces = np.arange(mesh["n_head_faces"])
    face, bary, _ = ray_hits(origin, target - origin, v[f[head_faces]])
    if (face < 0).any():
        raise RuntimeError("canonical face point missed the synthetic head")
    iris_face, iris_bary = [], []
    for joint, sx in ((4, -1.0), (3, 1.0)):  # 468-472 right iris (image left), 473-477 left
        centre = mesh["eye_centres"][joint - 3]
        dirs = np.array([[0, 0, 1], [0.45, 0, 1], [0, 0.45, 1], [-0.45, 0, 1], [0, -0.45, 1]], np.float64)
        eye_faces = np.flatnonzero(np.all(mesh["part"][f] == joint, axis=1))
        fi, bi, _ = ray_hits(np.repeat(centre[None], 5, 0), dirs, v[f[eye_faces]])
        iris_face.append(eye_faces[fi])
        iris_bary.append(bi)
    return {"lmk_face_idx": np.concatenate([face, *iris_face]).astype(np.uint32),
            "lmk_b_coords": np.concatenate([bary, *iris_bary]),
            "landmark_indices": np.arange(478, dtype=np.int64)}


def eyelid_blendshapes(mesh: dict, mp: dict) -> np.ndarray:
    """(V, 3, 2) left and right eyelid closure in the layout of metrical-tracker's l_eyelid.npy /
    r_eyelid.npy: at 1 the skin of each eye opening (its MediaPipe lid margins) is pulled
    vertically onto the line between the eye corners, with a compact smooth falloff, so a blink
    moves the lid landmarks most and the skin around the eye a little."""
    from reenact.flame.landmarks import MEDIAPIPE_EYELIDS

    v, f = mesh["v"], mesh["f"]
    points = np.einsum("lk,lkc->lc", mp["lmk_b_coords"], v[f[mp["lmk_face_idx"]]])
    out = np.zeros(v.shape + (2,))
    head = mesh["part"] == 0
    for column, (lids, corners) in enumerate(((MEDIAPIPE_EYELIDS[14:], (263, 362)),    # left eye (+x)
                                               (MEDIAPIPE_EYELIDS[:14], (33, 133)))):  # right eye
        margin = points[lids]
        c0, c1 = points[list(corners)]
        centre = (c0 + c1) / 2
        half_w = abs(c1[0] - c0[0]) / 2
        half_h = (margin[:, 1].max() - margin[:, 1].min()) / 2
        r = np.sqrt(((v[:, 0] - centre[0]) / half_w) ** 2 + ((v[:, 1] - centre[1]) / half_h) ** 2)
        # full pull inside the eye opening, smoothly to none at 2.5x its size (the mesh is coarse:
        # the triangles carrying the lid points reach well beyond the margins)
        fall = np.clip((2.5 - r) / 1.5, 0, 1) ** 2 * (3 - 2 * np.clip((2.5 - r) / 1.5, 0, 1))
        fall = np.where(head & (v[:, 2] > centre[2] - 0.01), fall, 0.0)
        out[:, 1, column] = -(v[:, 1] - centre[1]) * fall
    return out


def dynamic_contour(mesh: dict, full_faces: np.ndarray, full_bary: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(79, 17) silhouette contour per yaw row: for each contour point, the vertex at its height
    and on its side that sticks out furthest once the head is turned by the row's yaw."""
    v, f = mesh["v"], mesh["f"]
    pts = np.einsum("lk,lkc->lc", full_bary[:17], v[f[full_faces[:17]]])
    head = np.flatnonzero(mesh["part"] == 0)
    vertex_face = np.zeros(len(v), np.int64)
    vertex_face[f[: mesh["n_head_faces"]].ravel()] = np.repeat(np.arange(mesh["n_head_faces"]), 3)
    vertex_corner = np.zeros(len(v), np.int64)
    vertex_corner[f[: mesh["n_head_faces"]].ravel()] = np.tile(np.arange(3), mesh["n_head_faces"])
    faces = np.zeros((N_DYNAMIC_ROWS, 17), np.int64)
    bary = np.zeros((N_DYNAMIC_ROWS, 17, 3))
    for row in range(N_DYNAMIC_ROWS):
        yaw = np.deg2rad(row if row < 40 else 39 - row)
        for i in range(17):
            side = np.sign(pts[i, 0])
            if side == 0:
                faces[row, i], bary[row, i] = full_faces[i], full_bary[i]
                continue
            near = head[(np.abs(v[head, 1] - pts[i, 1]) < 0.005) & (side * v[head, 0] > 0) & (v[head, 2] > -0.02)]
            turned_x = v[near, 0] * np.cos(yaw) + v[near, 2] * np.sin(yaw)
            best = near[np.argmax(side * turned_x)]
            faces[row, i] = vertex_face[best]
            bary[row, i, vertex_corner[best]] = 1.0
    return faces, bary


# ----------------------------------------------------------------------------------------------
# assembling and writing

def build_test_head(seed: int = 0, size: str = "test") -> dict:
    """Everything the writers need, as plain arrays (FLAME's field names and dtypes)."""
    rng = np.random.default_rng(seed)
    mesh = build_mesh(size)
    w = skinning(mesh)
    shape_dirs, exp_dirs = build_bases(mesh, w, rng)
    mp = mediapipe_embedding(mesh)
    full_faces = mp["lmk_face_idx"][MEDIAPIPE_TO_IBUG68].astype(np.int64)
    full_bary = mp["lmk_b_coords"][MEDIAPIPE_TO_IBUG68]
    dyn_faces, dyn_bary = dynamic_contour(mesh, full_faces, full_bary)
    import scipy.sparse as sp

    model = {
        "v_template": mesh["v"],
        "shapedirs": np.concatenate([shape_dirs, exp_dirs], axis=2),
        "posedirs": build_posedirs(mesh, w, rng),
        "J_regressor": sp.csc_matrix(joint_regressor(mesh)),
        "kintree_table": np.array([[4294967295, 0, 1, 1, 1], [0, 1, 2, 3, 4]], np.uint32),
        "weights": w,
        "f": mesh["f"].astype(np.uint32),
        "J": JOINTS.copy(),
        "bs_style": "lbs",
        "bs_type": "lrotmin",
        "note": NOTE,
    }
    embedding = {
        "static_lmk_faces_idx": full_faces[17:], "static_lmk_bary_coords": full_bary[17:],
        "dynamic_lmk_faces_idx": dyn_faces, "dynamic_lmk_bary_coords": dyn_bary,
        "full_lmk_faces_idx": full_faces[None], "full_lmk_bary_coords": full_bary[None].astype(np.float32),
    }
    return {"model": model, "landmark_embedding": embedding, "mediapipe_embedding": mp,
            "eyelids": eyelid_blendshapes(mesh, mp)}


@contextmanager
def _fake_modules(**modules: types.ModuleType):
    """Register throwaway modules so pickle can name classes from packages that are not installed."""
    saved = {name: sys.modules.get(name) for name in modules}
    sys.modules.update(modules)
    try:
        yield
    finally:
        for name, mod in saved.items():
            if mod is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = mod


def _chumpy_style(model: dict, out: Path, protocol: int) -> None:
    """FLAME 2020 style: arrays wrapped in chumpy `Ch` objects and the regressor as a sparse
    matrix under SciPy's old module path `scipy.sparse.csc`."""
    chumpy, chumpy_ch, old_csc = (types.ModuleType(n) for n in ("chumpy", "chumpy.ch", "scipy.sparse.csc"))

    class Ch:
        def __init__(self, x):
            self.x = x

        def __getstate__(self):
            return {"x": self.x, "_cache": {}}  # chumpy keeps more keys; a reader must ignore them

    class csc_matrix:  # noqa: N801 - the pickled name
        def __init__(self, m):
            self.data, self.indices, self.indptr, self._shape = m.data, m.indices, m.indptr, m.shape
            self.maxprint = 50

    for cls, mod in ((Ch, chumpy_ch), (csc_matrix, old_csc)):
        cls.__module__, cls.__qualname__ = mod.__name__, cls.__name__
        setattr(mod, cls.__name__, cls)
    chumpy.ch = chumpy_ch
    pkl = dict(model)
    pkl["shapedirs"] = Ch(model["shapedirs"])
    pkl["v_template"] = Ch(Ch(model["v_template"]))  # nested, as chumpy expressions can be
    pkl["J_regressor"] = csc_matrix(model["J_regressor"])
    with _fake_modules(**{"chumpy": chumpy, "chumpy.ch": chumpy_ch, "scipy.sparse.csc": old_csc}):
        with open(out, "wb") as fh:
            pickle.dump(pkl, fh, protocol=protocol)


def write_test_head(out_dir: str | Path, seed: int = 0, size: str = "test") -> dict[str, Path]:
    """Write the synthetic head and its embeddings; returns {role: path}."""
    import torch

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    head = build_test_head(seed, size)
    paths = {
        "model": out_dir / "synthetic_test_head.pkl",
        "model_chumpy": out_dir / "synthetic_test_head_chumpy.pkl",
        "model_chumpy_protocol0": out_dir / "synthetic_test_head_chumpy_p0.pkl",
        "landmark_embedding": out_dir / "landmark_embedding.npy",
        "ringnet_static": out_dir / "flame_static_embedding.pkl",
        "ringnet_dynamic": out_dir / "flame_dynamic_embedding.npy",
        "mediapipe_embedding": out_dir / "mediapipe_landmark_embedding.npz",
        "l_eyelid": out_dir / "l_eyelid.npy",     # optional, as metrical-tracker / SMIRK ship them
        "r_eyelid": out_dir / "r_eyelid.npy",
    }
    with open(paths["model"], "wb") as fh:
        pickle.dump(head["model"], fh, protocol=2)
    _chumpy_style(head["model"], paths["model_chumpy"], protocol=2)
    _chumpy_style(head["model"], paths["model_chumpy_protocol0"], protocol=0)
    emb = dict(head["landmark_embedding"])
    # DECA stores the dynamic table as torch tensors inside the pickled dict.
    emb["dynamic_lmk_faces_idx"] = torch.from_numpy(emb["dynamic_lmk_faces_idx"])
    emb["dynamic_lmk_bary_coords"] = torch.from_numpy(emb["dynamic_lmk_bary_coords"].astype(np.float32))
    np.save(paths["landmark_embedding"], np.array(emb, dtype=object), allow_pickle=True)
    e = head["landmark_embedding"]
    with open(paths["ringnet_static"], "wb") as fh:
        pickle.dump({"lmk_face_idx": e["static_lmk_faces_idx"], "lmk_b_coords": e["static_lmk_bary_coords"]}, fh, 2)
    np.save(paths["ringnet_dynamic"], np.array({"lmk_face_idx": list(e["dynamic_lmk_faces_idx"]),
                                                "lmk_b_coords": list(e["dynamic_lmk_bary_coords"])}, dtype=object),
            allow_pickle=True)
    np.savez(paths["mediapipe_embedding"], **head["mediapipe_embedding"])
    for column, side in enumerate(("l_eyelid", "r_eyelid")):
        np.save(paths[side], head["eyelids"][:, :, column].astype(np.float32))
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", choices=SIZES, default="test",
                        help="test: the tests' small head (2646 vertices); flame: FLAME's 5023 vertices")
    args = parser.parse_args()
    for role, path in write_test_head(args.out_dir, args.seed, args.size).items():
        print(f"{role:24s} {path}")


if __name__ == "__main__":
    main()
