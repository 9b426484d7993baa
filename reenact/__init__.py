"""reenact: animate a portrait photo with the motion of a driving video."""

__version__ = "0.1.0"
