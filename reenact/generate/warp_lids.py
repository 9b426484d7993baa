"""Upper lids closing over the eye (a blink, a squint, a look down): the lash line carried, the lid stretched.

MediaPipe's upper lid is a grid of three rows of nine points (the lid's margin along the eye opening,
the crease above it, a row under the brow; columns from the outer corner to the inner), two
triangles a cell. As the eye closes the margin comes down the eye's height and the rows above it
much less, so the warp stretched the band between margin and crease 2-3x, and with it whatever the
photo shows there: lashes, eyeliner, the lid's shadow. A made-up eye (s1) closed into a black band,
a painting's shadowed lid (s3) into a brown smear, lashes into long streaks (s42).

Here the margin's dark edge (its lash line, measured on the source: `lash_thickness`) keeps its own
thickness and moves with the margin, and the rest of the lid, from the lash line up to the row under
the brow, takes up the stretch: a closed eye is its lid's skin with the lash line at its foot. The
map is only changed along the lid (each pixel keeps its place across it), only where the lid is
drawn taller than in the source, and not at all at the grid's edges, so it meets the plain warp
around it without a step.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# Per eye: the margin, the crease and the row under the brow, each from the outer corner to the inner
# (MediaPipe's eye contour rings 0, 1 and 2; on its canonical face a 9 x 3 grid of 32 triangles).
UPPER_LIDS = (
    ((33, 246, 161, 160, 159, 158, 157, 173, 133),
     (130, 247, 30, 29, 27, 28, 56, 190, 243),
     (226, 113, 225, 224, 223, 222, 221, 189, 244)),
    ((263, 466, 388, 387, 386, 385, 384, 398, 362),
     (359, 467, 260, 259, 257, 258, 286, 414, 463),
     (446, 342, 445, 444, 443, 442, 441, 413, 464)),
)
# The lash line ends where the lid, walked up from the margin, first gets LASH_LEVEL of the way from
# its darkest to its skin's tone (the median of the upper band); a lid with under LASH_CONTRAST grey
# levels between the two has none. It is at most LASH_SHARE of the margin's band (on s1, made up:
# 9 of 11-12 px, at that cap; s3's painted lid 2-3 of 4; the child s11's, bare, 1-2 of 7).
LASH_LEVEL, LASH_CONTRAST, LASH_SHARE = 0.5, 20.0, 0.8
# The lid keeps its lash line whole once it is drawn STRETCH_FULL times as tall as the source's, and
# from STRETCH_FROM in proportion (below it the plain warp: a lid only moved with the head, or the
# astronaut swaying in the bench's clip, reads 1 +- 0.02, and was remapped on every frame for
# nothing, 1.5 ms); the outermost EDGE_COLUMNS columns on each side take it in from none.
STRETCH_FROM, STRETCH_FULL, EDGE_COLUMNS = 1.03, 1.3, 1.5


@dataclass
class _Lid:
    """One upper lid: its grid and triangles, and the source's measures of it."""
    rows: np.ndarray           # (3, 9) point ids
    face_ids: np.ndarray       # (32,) its triangles' ids in the face triangle list
    tris: np.ndarray           # (32, 3) their corners' point ids
    grid: np.ndarray           # (32, 3, 2) the same corners as (column, row) of the grid
    cell: np.ndarray           # (8, 2, 2) the two triangles (indices into face_ids) of each cell
    heights: np.ndarray        # (2, 9) source px from each row to the next, per column
    lash: float                # source px from the margin to the lash line's top


def _heights(points: np.ndarray, rows: np.ndarray) -> np.ndarray:
    return np.linalg.norm(points[rows[1:], :2] - points[rows[:-1], :2], axis=-1)


def lash_thickness(grey: np.ndarray, points: np.ndarray, rows: np.ndarray) -> float:
    """Source px from an upper lid's margin (`rows[0]`) to the top of its lash line, the median over
    its middle columns, walking each column up through the crease (`rows[1]`) to the row under the
    brow (`rows[2]`); 0 where the lid shows no dark edge (LASH_CONTRAST)."""
    found = []
    for col in range(2, 7):
        path = points[rows[:, col], :2].astype(np.float64)
        steps = []
        for k in range(2):                 # every half pixel along margin -> crease -> brow row
            n = max(int(np.ceil(np.linalg.norm(path[k + 1] - path[k]) / 0.5)), 1)
            steps.append(path[k] + (path[k + 1] - path[k]) * (np.arange(n) / n)[:, None])
        band = np.linalg.norm(path[1] - path[0])
        samples = np.concatenate(steps).astype(np.float32)
        lum = cv2.remap(grey, samples[:, 0].reshape(1, -1), samples[:, 1].reshape(1, -1), cv2.INTER_LINEAR,
                        borderMode=cv2.BORDER_REPLICATE)[0].astype(np.float64)
        along = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(samples, axis=0), axis=1))])
        margin_band = along <= band
        darkest = int(np.argmin(np.where(margin_band, lum, np.inf)))
        above_crease = lum[along >= band + 0.5 * (along[-1] - band)]     # none on a lid a pixel tall
        skin = float(np.median(above_crease)) if len(above_crease) else float(lum[-1])
        if skin - lum[darkest] < LASH_CONTRAST:
            found.append(0.0)
            continue
        level = lum[darkest] + LASH_LEVEL * (skin - lum[darkest])
        above = np.flatnonzero((lum >= level) & (np.arange(len(lum)) > darkest))
        if len(above):                     # where the walk crosses the level, between two samples
            k = above[0]
            top = along[k - 1] + (along[k] - along[k - 1]) * (level - lum[k - 1]) / max(lum[k] - lum[k - 1], 1e-6)
        else:
            top = band
        found.append(min(top, LASH_SHARE * band))
    return float(np.median(found))


def _barycentric(p: np.ndarray, tri: np.ndarray) -> np.ndarray:
    """(N, K, 3) barycentric coordinates of points p (N, 2) in triangles tri (K, 3, 2) (or (N, K, 3, 2))."""
    a, b, c = tri[..., 0, :], tri[..., 1, :], tri[..., 2, :]
    v0, v1 = b - a, c - a
    v2 = p[:, None, :] - a
    den = v0[..., 0] * v1[..., 1] - v1[..., 0] * v0[..., 1]
    den = np.where(np.abs(den) < 1e-12, 1e-12, den)
    w1 = (v2[..., 0] * v1[..., 1] - v1[..., 0] * v2[..., 1]) / den
    w2 = (v0[..., 0] * v2[..., 1] - v2[..., 0] * v0[..., 1]) / den
    return np.stack([1.0 - w1 - w2, w1, w2], axis=-1)


def _at_columns(values: np.ndarray, s: np.ndarray) -> np.ndarray:
    """(..., N) per-column `values` (..., 9) read at fractional columns s (N,), linearly."""
    i = np.clip(np.floor(s).astype(int), 0, values.shape[-1] - 2)
    f = np.clip(s - i, 0.0, 1.0)
    return values[..., i] * (1.0 - f) + values[..., i + 1] * f


class ClosingLids:
    """The upper lids of a source, remapped as they close (module doc)."""

    def __init__(self, source: np.ndarray, points: np.ndarray, face_tris: np.ndarray):
        grey = cv2.cvtColor(source, cv2.COLOR_RGB2GRAY).astype(np.float32) if source.ndim == 3 else source.astype(np.float32)
        self.lids: list[_Lid] = []
        if len(points) < 468:
            return
        for rows in UPPER_LIDS:
            rows = np.array(rows)
            where = {int(p): (col, row) for row, line in enumerate(rows) for col, p in enumerate(line)}
            ids = np.array([k for k, t in enumerate(face_tris)
                            if all(int(p) in where for p in t) and any(where[int(p)][1] > 0 for p in t)])
            if len(ids) != 32:             # a mesh not MediaPipe's: no lid grid to work on
                continue
            grid = np.array([[where[int(p)] for p in face_tris[k]] for k in ids], np.float64)
            cells = np.full((8, 2, 2), -1)
            for j, g in enumerate(grid):
                col, row = int(g[:, 0].min()), int(g[:, 1].min())
                slot = 0 if cells[col, row, 0] < 0 else 1
                cells[col, row, slot] = j
            if (cells < 0).any():
                continue
            self.lids.append(_Lid(rows, ids, face_tris[ids], grid, cells, _heights(points, rows),
                                  lash_thickness(grey, points, rows)))

    def remap(self, map_x: np.ndarray, map_y: np.ndarray, top: np.ndarray, face_at: np.ndarray,
              dst: np.ndarray, src: np.ndarray, origin: tuple[int, int]) -> None:
        """The warp's map of an ROI at `origin`, in place, along each upper lid drawn taller than in
        the source. `top`: each pixel's topmost triangle (an index into the drawn list), `face_at`:
        where each face triangle is in that list; `dst`, `src`: the face's points (N, 2+) as drawn and
        in the source."""
        for lid in self.lids:
            heights = _heights(dst, lid.rows)
            if (heights.sum(0) <= STRETCH_FROM * lid.heights.sum(0)).all():
                continue                   # nowhere taller: the plain warp
            tri_dst = np.asarray(dst, np.float64)[:, :2][lid.tris]                      # (32, 3, 2)
            # only the lid's own box of the map is looked at
            lo = np.clip(np.floor(tri_dst.reshape(-1, 2).min(0) - origin).astype(int) - 1, 0, None)
            hi = np.ceil(tri_dst.reshape(-1, 2).max(0) - origin).astype(int) + 2
            drawn = face_at[lid.face_ids]
            mask = np.isin(top[lo[1]:hi[1], lo[0]:hi[0]], drawn)
            if not mask.any():
                continue
            rows, cols = np.nonzero(mask)
            rows, cols = rows + lo[1], cols + lo[0]
            pixel = np.c_[cols + origin[0], rows + origin[1]].astype(np.float64)
            # each pixel in its block's triangle (`top`), or, a pixel of the block beside that
            # triangle's edge, in whichever of the lid's triangles holds it
            by_position = np.argsort(drawn)
            best = by_position[np.searchsorted(drawn[by_position], top[rows, cols])]
            w = _barycentric(pixel, tri_dst[best][:, None])[:, 0]
            edge = np.flatnonzero(w.min(-1) <= -1e-3)
            if len(edge):
                bary = _barycentric(pixel[edge], tri_dst)                                # (E, 32, 3)
                best[edge] = np.argmax(bary.min(-1), axis=1)
                w[edge] = bary[np.arange(len(edge)), best[edge]]
            inside = w.min(-1) > -1e-3
            if not inside.any():
                continue
            rows, cols, w, best = rows[inside], cols[inside], w[inside], best[inside]
            at = np.einsum("nk,nkd->nd", w, lid.grid[best])             # (column, row) on the grid
            s, r = at[:, 0], at[:, 1]
            new_r = self._lifted_rows(lid, heights, s, r)
            moved = np.abs(new_r - r) > 1e-6
            if not moved.any():
                continue
            s, new_r, rows, cols = s[moved], new_r[moved], rows[moved], cols[moved]
            # where (s, new_r) lies on the grid: one of its cell's two triangles, then the source
            cell = lid.cell[np.clip(np.floor(s).astype(int), 0, 7), np.clip(np.floor(new_r).astype(int), 0, 1)]
            both = lid.grid[cell]                                        # (N, 2, 3, 2)
            bary = _barycentric(np.c_[s, new_r], both)                   # (N, 2, 3)
            pick = np.argmax(bary.min(-1), axis=1)
            w = bary[np.arange(len(s)), pick]
            corners_src = np.asarray(src, np.float64)[:, :2][lid.tris[cell[np.arange(len(s)), pick]]]   # (N, 3, 2)
            where = np.einsum("nk,nkd->nd", w, corners_src)
            map_x[rows, cols] = where[:, 0]
            map_y[rows, cols] = where[:, 1]

    def _lifted_rows(self, lid: _Lid, heights: np.ndarray, s: np.ndarray, r: np.ndarray) -> np.ndarray:
        """The grid row each drawn point (column s, row r) reads the source at: the lash band, from
        the margin up, at its own thickness, the lid above it stretched to the brow row."""
        drawn_h, source_h = _at_columns(heights, s), _at_columns(lid.heights, s)    # (2, N) each
        drawn_total, source_total = drawn_h.sum(0), source_h.sum(0)
        lash = np.minimum(lid.lash, LASH_SHARE * source_h[0])
        up = np.where(r <= 1.0, r * drawn_h[0], drawn_h[0] + (r - 1.0) * drawn_h[1])    # px from the margin, drawn
        above = lash + (up - lash) * (source_total - lash) / np.maximum(drawn_total - lash, 1e-6)
        source_up = np.where(up <= lash, up, above)
        lifted = np.where(source_up <= source_h[0], source_up / np.maximum(source_h[0], 1e-6),
                          1.0 + (source_up - source_h[0]) / np.maximum(source_h[1], 1e-6))
        weight = (np.clip((drawn_total / np.maximum(source_total, 1e-6) - STRETCH_FROM) / (STRETCH_FULL - STRETCH_FROM), 0.0, 1.0)
                  * np.clip(np.minimum(s, 8.0 - s) / EDGE_COLUMNS, 0.0, 1.0))
        return r + weight * (np.clip(lifted, 0.0, 2.0) - r)
