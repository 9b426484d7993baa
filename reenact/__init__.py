"""reenact: animate a portrait photo with the motion of a driving video.

    import reenact
    result = reenact.Reenactor(engine="warp").run("face.jpg", "clip.mp4", "out.mp4")
    reenact.reenact("face.jpg", "preset:talk", "talk.mp4")      # the function form
"""

__version__ = "0.1.0"

__all__ = ["Reenactor", "RunResult", "reenact", "__version__"]


def __getattr__(name: str):
    # Lazy, so `import reenact` stays cheap (no torch or MediaPipe until a run needs them).
    if name in ("Reenactor", "RunResult", "reenact"):
        from . import pipeline

        return getattr(pipeline, name)
    raise AttributeError(name)
