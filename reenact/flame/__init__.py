"""The FLAME head model: safe loading of the user's files, the forward pass and landmark embeddings."""

from .assets import FlameFiles, find_flame_files, flame_asset_report
from .head import FlameHead, load_flame_head
from .landmarks import MEDIAPIPE_TO_IBUG68, LandmarkEmbedding, MediaPipeEmbedding, flame_landmarks68
from .model import FlameData, FlameModel, FlameOutput, load_flame_data, load_flame_model

__all__ = ["FlameData", "FlameFiles", "FlameHead", "FlameModel", "FlameOutput", "LandmarkEmbedding",
           "MEDIAPIPE_TO_IBUG68", "MediaPipeEmbedding", "find_flame_files", "flame_asset_report",
           "flame_landmarks68", "load_flame_data", "load_flame_head", "load_flame_model"]
