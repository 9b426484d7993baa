"""The two benchmark protocols as lists of clip jobs.

- self: every driving video reenacts one of its own frames (the first by default), so the video
  itself is the ground truth for the generated frames.
- cross: every source portrait x every driving video; no ground truth, so identity, expression,
  pose, background and stability are measured instead.

Job lists are sorted and named from the file names, so every process of a sharded run builds the
same list.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import InputError
from ..io.images import is_image_path, write_image
from ..io.video import is_video_path, iter_frames
from .clip_eval import ClipJob

PROTOCOLS = ("self", "cross")


def _files(folder: Path, keep, what: str) -> list[Path]:
    if not folder.exists():
        raise InputError(f"{what} folder not found: {folder}")
    if not folder.is_dir():
        raise InputError(f"{what} {folder} is a file; give a folder of {what}")
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".") and keep(p))


def list_videos(folder: str | Path) -> list[Path]:
    """The videos in `folder`, or in its `driving/` subfolder when it has none itself (the layout
    of a dataset folder with driving/ and source/)."""
    folder = Path(folder).expanduser()
    videos = _files(folder, is_video_path, "videos")
    if not videos and (folder / "driving").is_dir():
        videos = _files(folder / "driving", is_video_path, "videos")
    if not videos:
        raise InputError(f"no videos (.mp4, .mov, …) in {folder}; give a folder of driving clips")
    return videos


def default_sources(videos_folder: str | Path) -> Path | None:
    """A dataset folder's own portraits: `source/` or `sources/` next to (or inside) the videos."""
    folder = Path(videos_folder).expanduser()
    for base in (folder, folder.parent):
        for name in ("source", "sources"):
            if (base / name).is_dir():
                return base / name
    return None


def list_images(folder: str | Path) -> list[Path]:
    folder = Path(folder).expanduser()
    images = _files(folder, is_image_path, "source images")
    if not images:
        raise InputError(f"no images (.jpg, .png, …) in {folder}; give a folder of source portraits")
    return images


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "clip"


def _unique_ids(stems: list[str]) -> list[str]:
    """File stems as clip ids; repeats (a.mp4 and a.mov) get the suffix added."""
    seen: dict[str, int] = {}
    out = []
    for s in stems:
        seen[s] = seen.get(s, 0) + 1
        out.append(s if seen[s] == 1 else f"{s}-{seen[s]}")
    return out


def self_jobs(videos: list[Path], sources_dir: Path) -> list[ClipJob]:
    """One job per video; its source portrait will be written to sources_dir/<id>.png."""
    ids = _unique_ids([_slug(v.stem) for v in videos])
    return [ClipJob(i, "self", sources_dir / f"{i}.png", v) for i, v in zip(ids, videos)]


def cross_jobs(videos: list[Path], sources: list[Path]) -> list[ClipJob]:
    src_ids = _unique_ids([_slug(s.stem) for s in sources])
    vid_ids = _unique_ids([_slug(v.stem) for v in videos])
    return [ClipJob(f"{si}__{vi}", "cross", s, v)
            for si, s in zip(src_ids, sources) for vi, v in zip(vid_ids, videos)]


def extract_source_frame(video: Path, index: int, out: Path) -> Path:
    """Write frame `index` of `video` as a PNG portrait (lossless, so the source is exactly that frame)."""
    frame = None
    for t, f in enumerate(iter_frames(video, max_frames=index + 1)):
        frame = f
    if frame is None or t != index:
        raise InputError(f"{video} has no frame {index} to use as the self-reenactment source")
    return write_image(out, frame)
