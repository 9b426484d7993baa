"""A FLAME model together with its landmark embeddings: what the tracker needs, loaded in one call."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import AssetError
from .assets import find_flame_files, flame_dir_from
from .landmarks import (MEDIAPIPE_TO_IBUG68, LandmarkEmbedding, MediaPipeEmbedding, load_landmark_embedding,
                        load_mediapipe_embedding)
from .model import FlameModel, load_flame_data

CONTOUR, INNER, DENSE = 0, 1, 2


@dataclass
class LandmarkSet:
    """Landmarks as (triangle, barycentrics) on the model, and the MediaPipe point each one matches."""

    faces: np.ndarray             # (L,)
    bary: np.ndarray              # (L, 3)
    mediapipe_index: np.ndarray   # (L,) index into MediaPipe's 478
    kind: np.ndarray              # (L,) CONTOUR, INNER or DENSE


@dataclass
class FlameHead:
    model: FlameModel
    landmarks: LandmarkEmbedding
    mediapipe: MediaPipeEmbedding | None = None

    def landmark_set(self, use_dense: bool = True) -> LandmarkSet:
        """The 68 iBUG points with the fixed contour (MediaPipe's contour is a surface point, not a
        silhouette), plus the dense MediaPipe embedding when there is one and `use_dense`."""
        faces = [self.landmarks.full_faces]
        bary = [self.landmarks.full_bary]
        index = [MEDIAPIPE_TO_IBUG68]
        kind = [np.where(np.arange(68) < 17, CONTOUR, INNER)]
        if use_dense and self.mediapipe is not None:
            faces.append(self.mediapipe.faces)
            bary.append(self.mediapipe.bary)
            index.append(self.mediapipe.landmark_indices)
            kind.append(np.full(len(self.mediapipe.faces), DENSE))
        return LandmarkSet(np.concatenate(faces), np.concatenate(bary).astype(np.float32),
                           np.concatenate(index), np.concatenate(kind))


def _load_offsets(path) -> np.ndarray:
    try:
        return np.asarray(np.load(path, allow_pickle=False), np.float32)
    except (OSError, ValueError) as exc:
        raise AssetError(f"cannot read eyelid blendshape {path} ({exc}); replace it or remove it") from None


def load_flame_head(cfg: Any = None, n_shape: int = 100, n_expression: int = 50) -> FlameHead:
    """Find and load the user's FLAME model and embeddings (see `find_flame_files`)."""
    files = find_flame_files(cfg)
    if files.model is None:
        raise AssetError(f"no FLAME model in {flame_dir_from(cfg)}: download FLAME 2020 from "
                         "https://flame.is.tue.mpg.de and put generic_model.pkl there (or use --backend mesh)")
    if files.landmark_embedding is None:
        raise AssetError(f"no FLAME landmark embedding in {flame_dir_from(cfg)}: put DECA's landmark_embedding.npy "
                         "there (https://github.com/yfeng95/DECA, data/) or use --backend mesh")
    data = load_flame_data(files.model)
    if files.eyelids is not None:
        data = data.with_eyelids(*(_load_offsets(path) for path in files.eyelids), where=str(files.eyelids[0].parent))
    embedding = load_landmark_embedding(files.landmark_embedding, files.landmark_embedding_dynamic)
    embedding.check_faces(len(data.faces), str(files.model))
    mediapipe = None
    if files.mediapipe_embedding is not None:
        mediapipe = load_mediapipe_embedding(files.mediapipe_embedding)
        if mediapipe.faces.max() >= len(data.faces):
            raise AssetError(f"{files.mediapipe_embedding} refers to triangles the model {files.model} lacks")
    return FlameHead(FlameModel(data, n_shape, n_expression), embedding, mediapipe)
