"""tools/make_test_head.py --size flame: a benchmark head with FLAME's vertex count (issue 12)."""

import numpy as np
from synthetic_head import make_test_head_module


def test_flame_size_mesh_has_flames_vertex_count_and_is_closed_and_outward():
    tool = make_test_head_module()
    mesh = tool.build_mesh("flame")
    v, f = mesh["v"], mesh["f"]
    assert v.shape == (5023, 3)                        # FLAME 2020: 5023 vertices, 9976 triangles
    assert 9900 <= len(f) <= 10100
    # closed and consistently wound: every directed edge once, its reverse once
    edges = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
    assert len(np.unique(edges, axis=0)) == len(edges)
    assert set(map(tuple, edges)) == set(map(tuple, edges[:, ::-1]))
    head = f[: mesh["n_head_faces"]]
    a, b, c = (v[head[:, k]] for k in range(3))
    normals = np.cross(b - a, c - a)
    outward = np.einsum("ij,ij->i", normals, (a + b + c) / 3 - v[: mesh["n_head"]].mean(0)) > 0
    assert outward.mean() > 0.97                     # wound counter-clockwise seen from outside
    assert np.linalg.norm(normals, axis=1).min() > 0  # no degenerate triangle
    # the default head, which the tests use, is unchanged
    assert tool.build_mesh()["v"].shape == (2646, 3) and len(tool.build_mesh()["f"]) == 5280
