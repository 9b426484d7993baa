"""The edge of the face for the warp engine: how far it may widen in a turn.

Near the face oval a portrait shows the side of the cheek and the temple at a grazing angle, and
that strip often holds what is not face: hair falling over the temple, the dark background beside
a painted cheek, a shadow. A turn that brings that side towards the camera (the near side of a yaw)
widens the strip several times over (about 3x at 35 degrees), and whatever lies in it was drawn as
a broad streak across the cheek (a lock of hair became a brown bar beside the eye). MediaPipe's
mesh is densest there: at the sides of the face its next ring of points lies within a pixel of the
oval, so holding one ring of triangles only passed the stretch on to the next.

So every face point within EDGE_ZONE of the face's width from the oval (in a frontal view of the
face: MediaPipe's canonical one) is held to at most EDGE_STRETCH times its source distance from it;
points up to twice as deep are held less the deeper they lie, and the cheek inside takes up the
rest of the turn. Talking clips hardly widen the edge: there only the points within a pixel of the
oval are held, by a pixel or less.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# The edge of the face widens at most this many times (distance from the oval)...
EDGE_STRETCH = 1.5
# ... within this share of the face's width from the oval; the hold fades out over as much again.
EDGE_ZONE = 0.07


@dataclass(frozen=True)
class EdgeZone:
    """The face points near the oval and where each sits against it in the source: on the
    segment from oval point `segment` to the next, `along` of the way, `depth` px off it, held
    with `weight` (1 within the zone, down to 0 at twice its depth)."""

    oval: np.ndarray      # (O,) landmark ids of the face oval, in order around it
    points: np.ndarray    # (B,) landmark ids of the points near it
    segment: np.ndarray   # (B,) index into `oval` of each point's nearest segment's start
    along: np.ndarray     # (B,) 0..1 along that segment
    depth: np.ndarray     # (B,) distance from the oval in the source, px
    weight: np.ndarray    # (B,) how fully each is held

    @classmethod
    def of(cls, points: np.ndarray, oval: np.ndarray, candidates: np.ndarray, frontal: np.ndarray,
           zone: float = EDGE_ZONE) -> "EdgeZone":
        """The zone of the face with landmarks `points` (N, 2+) around `oval` (O,), among
        `candidates` (ids; the oval's own are left out). Which points lie in it, and how fully
        each is held, is measured on `frontal` (N, 2+): the same face seen from the front
        (MediaPipe's canonical face), so a turned source's squeezed far side is not all edge."""
        oval = np.asarray(oval, np.int64)
        ids = np.setdiff1d(np.asarray(candidates, np.int64), oval)
        front = np.asarray(frontal, np.float64)[:, :2]
        _, _, front_depth = _nearest_on_polygon(front, oval, ids)
        weight = np.clip(2.0 - front_depth / (zone * float(np.ptp(front[oval, 0]))), 0.0, 1.0)
        near = weight > 0
        ids, weight = ids[near], weight[near]
        start, along, depth = _nearest_on_polygon(np.asarray(points, np.float64)[:, :2], oval, ids)
        return cls(oval, ids, start, along, depth, weight)

    def reach(self, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each point's foot on its own segment of the oval of `target` (N, 2+) and its offset
        from there (B, 2) each: at the source's points, of length `depth`."""
        pts = np.asarray(target, np.float64)
        ring = pts[self.oval, :2]
        a, b = ring[self.segment], np.roll(ring, -1, axis=0)[self.segment]
        foot = a + self.along[:, None] * (b - a)
        return foot, pts[self.points, :2] - foot

    def held(self, target: np.ndarray, most: float = EDGE_STRETCH) -> np.ndarray:
        """`target` (N, 2+) with each point brought towards the target's oval, along the same line,
        where it lies more than `most` times its source depth from it: all the way to that for the
        zone, less for the points beyond it; the others untouched (`target` itself if none is over)."""
        foot, offset = self.reach(target)
        reach = np.linalg.norm(offset, axis=1)
        keep = most * self.depth
        over = reach > keep
        if not over.any():
            return target
        out = np.array(target, np.float64)
        wanted = reach[over] - self.weight[over] * (reach[over] - keep[over])
        out[self.points[over], :2] = foot[over] + offset[over] * (wanted / reach[over])[:, None]
        return out


def _nearest_on_polygon(points: np.ndarray, ring: np.ndarray, ids: np.ndarray
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each point `ids` of `points`: the closed polygon `ring`'s nearest segment (its start's
    index), how far along it the nearest point lies (0..1) and the distance to it."""
    a = points[ring]
    seg = np.roll(a, -1, axis=0) - a                                     # (O, 2)
    p = points[ids][:, None, :]                                          # (B, 1, 2)
    t = np.clip(((p - a) * seg).sum(-1) / np.maximum((seg ** 2).sum(-1), 1e-12), 0.0, 1.0)   # (B, O)
    dist = np.linalg.norm(p - (a + t[..., None] * seg), axis=-1)
    best = dist.argmin(1)
    rows = np.arange(len(ids))
    return best, t[rows, best], dist[rows, best]
