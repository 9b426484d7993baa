"""Tracking: per-frame head parameters from face landmarks (FLAME or MediaPipe-mesh backends)."""

from .base import TrackerBackend, available_backends, make_tracker, register_tracker, track
from .types import HEAD_TRACK_SCHEMA, HeadTrack

__all__ = ["HEAD_TRACK_SCHEMA", "HeadTrack", "TrackerBackend", "available_backends", "make_tracker",
           "register_tracker", "track"]
