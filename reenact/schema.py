"""The configuration schema: every setting reenact has, its type, its default, its allowed values.

This module is the only source of defaults. `reenact/configs/default.yaml` is generated from it
(`python -m reenact.schema > reenact/configs/default.yaml`, checked by a test), the stage
packages take their option dataclasses from here, and `reenact.config` validates every file and
`--set` override against it, so a typo or a bad value is one line naming the key and what is allowed.

Each field's metadata carries its one-line help and its checks (choices, bounds); floats are
always required to be finite. Nothing here imports more than the standard library.
"""

import math
from dataclasses import MISSING, dataclass, field, fields, is_dataclass
from typing import Any, List, Optional


def setting(default: Any, help: str, *, choices: tuple | None = None, lo: float | None = None,
            hi: float | None = None, lo_open: bool = False) -> Any:
    """A config field: its default, a one-line help, and the checks `check` applies."""
    meta = {"help": help, "choices": choices, "lo": lo, "hi": hi, "lo_open": lo_open}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


def section(cls: type, help: str) -> Any:
    return field(default_factory=cls, metadata={"help": help})


class Section:
    """A schema section; stages build theirs from the config node they are handed."""

    @classmethod
    def from_config(cls, node: Any) -> Any:
        """From a config node (or any mapping) with this section's keys; other keys are ignored."""
        if isinstance(node, cls):
            return node
        data = dict(node or {})
        values = {}
        for f in fields(cls):
            if f.name not in data:
                continue
            value = data[f.name]
            default = f.default_factory() if f.default is MISSING else f.default
            if isinstance(default, Section):
                value = type(default).from_config(value)
            elif isinstance(default, list):
                value = list(value)
            values[f.name] = value
        return cls(**values)


# ---- faces ---------------------------------------------------------------------------------------
@dataclass
class FaceOptions(Section):
    crop_size: int = setting(512, "side of the aligned square crop, px", lo=64, hi=2048)
    crop_rule: str = setting("auto", "auto (official when the maps feed MagicPortrait) | landmarks (crop_scale x "
                                     "landmark box, smoothed) | official (2.18 x face width, first frame's box)",
                             choices=("auto", "landmarks", "official"))
    source_is_cropped: str = setting("auto", "a still image: yes = it is the crop already; auto = detected (official "
                                             "rule only); no", choices=("auto", "yes", "no"))
    crop_scale: float = setting(1.6, "crop side / larger side of the landmark box (official framing ~ 1.5 x detector box)",
                                lo=1.0, hi=4.0)
    box_smoothing: float = setting(3.0, "Gaussian sigma (frames) smoothing crop boxes over time; 0 = none", lo=0, hi=100)
    max_gap: int = setting(8, "frames without a face that are filled by interpolation (longer gaps too, with a warning)",
                           lo=0, hi=100000)
    min_face_run: int = setting(5, "a video's runs of fewer frames with a face, when it has a longer one, are false "
                                   "detections (a logo, a cartoon, a pattern) and dropped", lo=1, hi=1000)
    cut_threshold: float = setting(0.35, "a video frame whose colour histogram moved by more than this share from "
                                   "the previous one's, or whose face lies more than its own size from the previous "
                                   "one's, starts a new shot (a cut): each shot gets its own neutral reference; "
                                   "1 = no shots", lo=0, hi=1)
    face_index: Optional[int] = setting(None, "null = the largest face; k picks the k-th largest (0 = largest)",
                                        lo=0, hi=100)
    min_detection_confidence: float = setting(0.5, "MediaPipe face detection threshold", lo=0, hi=1)
    max_faces: int = setting(4, "faces MediaPipe looks for per frame (the chosen one is followed)", lo=1, hi=20)
    reread_span: float = setting(2.0, "a still picture's faces, and a video's first where small, are read again "
                                      "from a square this many times their landmarks' extent (a face small in a "
                                      "large picture was placed loosely); 0 = not", lo=0, hi=10)


# ---- paths ---------------------------------------------------------------------------------------
@dataclass
class PathOptions(Section):
    flame_dir: str = setting("flame_assets", "the user's FLAME files (relative: to the checkout, else the working folder)")
    weights_dir: str = setting("weights", "diffusion and evaluation weights")
    cache_dir: Optional[str] = setting(None, "track cache; null = $REENACT_CACHE_DIR, else $XDG_CACHE_HOME/reenact "
                                             "(~/.cache/reenact)")


# ---- the run -------------------------------------------------------------------------------------
@dataclass
class RunOptions(Section):
    engine: str = setting("auto", "auto | warp | diffusion | a registered engine (auto: diffusion only with its "
                                  "weights and a GPU; the planner checks the name)")
    pasteback: bool = setting(True, "paste the face back into the full source picture (false: the square crop)")
    audio: bool = setting(True, "carry the driving video's audio into the output")
    max_frames: Optional[int] = setting(None, "use only the first N driving frames", lo=1)
    fps: Optional[float] = setting(None, "output frame rate (default: the driving's; presets: 25); a clip keeps "
                                   "its duration: its frames repeat or are left out", lo=0, hi=1000,
                                   lo_open=True)
    preset_seconds: float = setting(4.0, "length of a preset motion, s", lo=0, hi=3600, lo_open=True)
    still_seconds: float = setting(1.0, "an image as driving: ease into its expression over this long (video out), s",
                                   lo=0, hi=60, lo_open=True)
    cache: bool = setting(True, "reuse the driving track when the same clip is used again")
    max_megapixels: float = setting(100.0, "refuse larger source or driving pictures before decoding them (RAM guard)",
                                    lo=0, lo_open=True)
    max_output_megapixels: float = setting(8.3, "a larger source picture is scaled down to this first (8.3: 4K UHD), "
                                                "so the video stays playable and the job light", lo=0, lo_open=True)


# ---- geometry ------------------------------------------------------------------------------------
@dataclass
class RenderOptions(Section):
    size: int = setting(512, "side of the guidance maps, px (the official checkpoint expects 512)", lo=16, hi=4096)
    backend: str = setting("torch", "rasteriser: torch (pure PyTorch, CPU/CUDA) | pytorch3d (optional, if installed)",
                           choices=("torch", "pytorch3d"))
    batch_size: int = setting(8, "frames rasterised together", lo=1, hi=1024)
    cpu_threads: int = setting(1, "torch threads while rendering on CPU (1 is fastest for this workload; 0 = torch's "
                                  "default)", lo=0, hi=256)
    format: str = setting("png", "guidance files: png (lossless) | jpg (JPEG q75, what the official README's frames give)",
                          choices=("png", "jpg"))
    constant_albedo: List[float] = setting([0.7, 0.55, 0.45],
                                           "render-map colour without FLAME_texture.npz (recorded in guidance.json)")
    flame_texture: str = setting("flame_assets/FLAME_texture.npz", "FLAME texture space (optional)")
    head_template: str = setting("flame_assets/head_template.obj", "DECA's head template: FLAME UVs (optional)")


ALIGN_MODES = ("auto", "absolute", "relative")


HEAD_MOTIONS = ("anchored", "follow")
REFERENCES = ("auto", "frame")


@dataclass
class FollowOptions(Section):
    max_shift: float = setting(0.5, "head sizes, saturating beyond", lo=0, hi=10)
    max_scale: float = setting(0.2, "relative size change, saturating beyond", lo=0, hi=10)
    smoothing: float = setting(2.0, "Gaussian sigma (frames) on the followed motion", lo=0, hi=100)
    jump_shift: float = setting(0.25, "a one-frame move above this (head sizes) is a camera jump, not head motion",
                                lo=0, lo_open=True)
    jump_scale: float = setting(0.12, "a one-frame log size change above this is a camera jump", lo=0, lo_open=True)


@dataclass
class AlignOptions(Section):
    mode: str = setting("auto", "auto (absolute for FLAME = the official split, relative for the mesh) | absolute"
                        " (mesh: the driving's rotation as it is) | relative", choices=ALIGN_MODES)
    reference: str = setting("auto", "relative: auto = the driving frame whose expression is closest to the source's"
                             " (the head's turn from the pose its shot holds most, near the source's)"
                             " | frame = reference_frame", choices=REFERENCES)
    reference_frame: int = setting(0, "reference=frame: driving frame taken as the neutral reference", lo=0)
    head_motion: str = setting("anchored", "anchored: the head stays on the body (rotation, expression, gaze only)"
                               " | follow: also a bounded, smoothed part of the driving head's movement and zoom",
                               choices=HEAD_MOTIONS)
    source_frame: int = setting(0, "which frame of the source track is the source", lo=0)
    expression_scale: float = setting(1.0, "relative: multiplier on expression, jaw and eye changes", lo=0, hi=5)
    pose_scale: float = setting(1.0, "relative: multiplier on head rotation, translation and scale changes", lo=0, hi=5)
    smoothing: float = setting(0.0, "Gaussian sigma (frames) on the driving motion; 0 = off", lo=0, hi=100)
    follow: FollowOptions = section(FollowOptions, "head_motion=follow: how much of the driving head's movement")


# ---- generators ----------------------------------------------------------------------------------
@dataclass
class WarpOptions(Section):
    head_ring: float = setting(1.25, "ring (x face-oval size) that moves rigidly with the head: hair, ears", lo=1, hi=5)
    fade_ring: float = setting(1.5, "ring that follows part of the head's motion", lo=1, hi=5)
    fade_motion: float = setting(0.0, "that part (of the head outline's motion); it moves further only where a ring "
                                 "triangle would fold", lo=0, hi=1)
    frame_scale: float = setting(1.9, "static frame: nothing beyond it changes", lo=1, hi=10)
    open_mouth_ratio: float = setting(0.06, "mean inner-lip opening / mouth width above which a mouth counts as open",
                                      lo=0, hi=1)
    mouth_interior: str = setting("auto", "auto (the source's own when its mouth is open, else drawn) | source | drawn",
                                  choices=("auto", "source", "drawn"))
    teeth: bool = setting(True, "draw teeth in a drawn mouth interior")
    interior_layout: str = setting("driving", "where a drawn interior's teeth, tongue and shading lie: driving (as the "
                                   "driving frame shows them, in the source's colours; drawn where its mouth is "
                                   "hidden, off the picture or under 16 px) | drawn", choices=("driving", "drawn"))
    eyes: str = setting("layers", "how the gaze moves an iris: layers (the source's iris disc moved over its eye, "
                        "the white filled in where it was) | warp (the iris warped within the opening)",
                        choices=("layers", "warp"))
    turn_calibration: bool = setting(True, "scale the turns asked so that the landmarker reads the drawn head as "
                                     "turned as a typical portrait's (two probe turns of the source, read back)")
    map_stride: int = setting(2, "warp map resolution divisor (speed vs exactness at triangle edges)", lo=1, hi=16)
    interpolation: str = setting("detail", "resampling of moved pixels (unmoved pixels stay bit-exact); detail: "
                                 "smooth band bilinear + fine band nearest (keeps grain and line art)",
                                 choices=("cubic", "lanczos", "linear", "detail"))


@dataclass
class DiffusionOptions(Section):
    official: bool = setting(False, "true: every official numeric choice (fp32, DDIM, wrapping windows, "
                                    "one window per call, per-frame decode); overrides the switches below")
    width: int = setting(512, "generated crop width, px (multiple of 8)", lo=64, hi=2048)
    height: int = setting(512, "generated crop height, px (multiple of 8)", lo=64, hi=2048)
    num_inference_steps: int = setting(20, "denoising steps (official: DDIM 20; dpm++/unipc: 10-12)", lo=1, hi=1000)
    guidance_scale: float = setting(3.5, "reference-image classifier-free guidance (the prompt is fixed)", lo=0, hi=50)
    seed: int = setting(42, "noise seed", lo=0)
    scheduler: str = setting("ddim", "ddim (official) | dpm++ | unipc, on the same noise schedule",
                             choices=("ddim", "dpm++", "unipc"))
    context_frames: int = setting(12, "frames per denoising window (at most 32)", lo=1, hi=32)
    context_overlap: int = setting(1, "frames shared by neighbouring windows", lo=0, hi=31)
    context_stride: int = setting(1, "window stride levels", lo=1, hi=8)
    closed_loop: bool = setting(False, "windows wrap around the clip's end (official; for looping clips only)")
    window_batch: int = setting(4, "context windows per denoising-UNet call (official: 1)", lo=1, hi=64)
    decode_chunk: int = setting(8, "frames decoded, pasted back and written per chunk", lo=1, hi=1024)
    fp16_reference: bool = setting(True, "official quirk Q6: reference features rounded through fp16")
    noise_device: str = setting("cpu", "cpu: same video on every machine; cuda: the official script's noise",
                                choices=("cpu", "cuda"))
    dtype: str = setting("auto", "auto: fp16 on CUDA/MPS (VAE in fp32), fp32 on CPU | fp32 (official) | fp16 | bf16",
                         choices=("auto", "fp32", "fp16", "bf16"))
    device: Optional[str] = setting(None, "null: cuda, else mps (cpu only when asked for)")
    features_on_device: bool = setting(True, "guidance features computed once and kept on the device "
                                             "(false: per window, parked on the CPU, as official)")
    tf32: bool = setting(True, "TF32 matmuls/convolutions when running fp32 on CUDA")
    channels_last: bool = setting(False, "channels_last memory format for the UNets and the VAE")
    compile: bool = setting(False, "torch.compile the denoising UNet (compiles for minutes; long clips, batches)")
    cpu_offload: bool = setting(False, "accelerate model CPU offload: one model on the GPU at a time (8-12 GB cards)")
    vae_slicing: bool = setting(False, "one frame per VAE decode call")
    vae_tiling: bool = setting(False, "tiled VAE decode (less VRAM at large sizes)")


@dataclass
class GenerateOptions(Section):
    diffusion: DiffusionOptions = section(DiffusionOptions, "MagicPortrait engine (docs/generator.md)")


# ---- tracking ------------------------------------------------------------------------------------
@dataclass
class FlameFileOptions(Section):
    model_file: Optional[str] = setting(None, "null: generic_model.pkl, flame2023.pkl, flame2023_Open.pkl in "
                                               "paths.flame_dir (also one folder down)")
    landmark_embedding: Optional[str] = setting(None, "DECA's landmark_embedding.npy, or RingNet's "
                                                       "flame_static_embedding.pkl ...")
    landmark_embedding_dynamic: Optional[str] = setting(None, "... with flame_dynamic_embedding.npy")
    mediapipe_embedding: Optional[str] = setting(None, "optional dense embedding (SMIRK's mediapipe_landmark_embedding.npz)")


@dataclass
class FlameFitSettings(Section):
    n_shape: int = setting(100, "identity coefficients (FLAME has 300)", lo=1, hi=300)
    n_expression: int = setting(50, "expression coefficients (FLAME has 100)", lo=1, hi=100)
    chunk_size: int = setting(64, "frames fitted together; memory is flat in clip length", lo=2, hi=4096)
    chunk_overlap: int = setting(8, "frames each chunk re-fits from the previous one", lo=0, hi=1024)
    shape_frames: int = setting(16, "frames the identity is fitted on", lo=1, hi=1024)
    shape_iterations: int = setting(10, "Levenberg-Marquardt iterations, identity stage", lo=1, hi=200)
    frame_iterations: int = setting(6, "Levenberg-Marquardt iterations per chunk", lo=1, hi=200)
    noise_px: float = setting(2.0, "expected landmark error in px of a 512 crop; sets the prior strength",
                              lo=0, hi=100, lo_open=True)
    robust_px: float = setting(6.0, "larger landmark errors count linearly, not squared", lo=0, hi=1000, lo_open=True)
    depth_weight: float = setting(0.25, "weight of MediaPipe's landmark depth against x/y", lo=0, hi=10)
    contour_weight: float = setting(0.5, "jaw-contour points are less reliable correspondences", lo=0, hi=10)
    dense_weight: float = setting(0.5, "per point of the dense MediaPipe embedding, when present", lo=0, hi=10)
    use_dense: bool = setting(True, "use the dense MediaPipe embedding when present")
    interpolated_weight: float = setting(0.3, "frames the face stage filled in rather than detected", lo=0, hi=1)
    jaw_side_sigma: float = setting(0.05, "prior std of jaw yaw/roll, radians", lo=0, hi=3.2, lo_open=True)
    smooth_accel: float = setting(0.5, "temporal smoothness: landmark acceleration", lo=0, hi=1000)
    smooth_rotation: float = setting(0.2, "temporal smoothness: head-rotation acceleration", lo=0, hi=1000)
    smooth_expression: float = setting(1.0, "temporal smoothness: expression change", lo=0, hi=1000)
    eyelid_prior: float = setting(0.01, "with eyelid blendshapes (l_eyelid.npy, r_eyelid.npy): their prior against the "
                                        "expression's, small so a blink goes to the eyelids", lo=0, hi=10, lo_open=True)
    eyelid_weight: float = setting(0.0, "without them: weight of the eyelid-margin landmarks (0 keeps blinks out of "
                                        "the expression)", lo=0, hi=10)
    jaw_side_limit: float = setting(0.2, "SMIRK's jaw clamps on the fit: no negative opening, |yaw|, |roll| <= this, rad",
                                    lo=0, hi=3.2)
    confidence_residual: float = setting(3.0, "a frame whose landmark residual is this many robust deviations above "
                                              "the clip's median is flagged and its expression held", lo=0, lo_open=True)
    mouth_detail_ratio: float = setting(0.6, "... as is a frame whose mouth lost its edges (below this x the clip's "
                                             "median: a covered mouth)", lo=0, hi=1)
    device: str = setting("auto", "auto = cuda when available | cpu | cuda")
    cpu_threads: int = setting(1, "torch threads while fitting on CPU (0 = torch's default)", lo=0, hi=256)


@dataclass
class MeshSettings(Section):
    pose_sigma: float = setting(1.0, "Gaussian smoothing of the pose over time, frames (0 = off)", lo=0, hi=100)
    canonical_sigma: float = setting(0.0, "same for the pose-free landmarks (expressions)", lo=0, hi=100)
    mouth_detail_ratio: float = setting(0.6, "a driving frame whose mouth lost its edges (below this x the clip's "
                                             "median; a hand over it) keeps the expression of the frames around it",
                                         lo=0, hi=1)


@dataclass
class EncoderOptions(Section):
    use: bool = setting(True, "false = landmark fit only, even when the weights are there")
    deca_model: Optional[str] = setting(None, "DECA's deca_model.tar (source shape/texture/light/camera, driving head "
                                              "rotation); null = search paths.flame_dir")
    smirk_model: Optional[str] = setting(None, "SMIRK's SMIRK_em1.pt (driving expression and jaw); null = "
                                               "search paths.flame_dir")


@dataclass
class TrackingOptions(Section):
    backend: str = setting("auto", "auto (the best the engine can use: FLAME when present for diffusion) | flame | mesh")
    flame: FlameFitSettings = section(FlameFitSettings, "the FLAME landmark fit")
    mesh: MeshSettings = section(MeshSettings, "the MediaPipe mesh tracker")
    encoders: EncoderOptions = section(EncoderOptions, "optional official encoders, user-supplied (docs/tracking.md)")


# ---- evaluation ----------------------------------------------------------------------------------
@dataclass
class EvalOptions(Section):
    weights_dir: Optional[str] = setting(None, "optional metric networks (LPIPS, FID, FVD, ArcFace); "
                                                "null = <paths.weights_dir>/eval; see docs/eval.md")
    face_frames: int = setting(32, "frames per clip read by the face estimators (evenly spaced; 0 = no face metrics)",
                               lo=0, hi=100000)
    head_scale: float = setting(1.8, "bg_rmse leaves out an ellipse this many times the face-landmark box", lo=1, hi=10)
    psnr_cap: float = setting(100.0, "dB reported for identical frames", lo=1, hi=1000)
    fvd_frames: int = setting(16, "frames per FVD window", lo=2, hi=1024)
    strip_frames: int = setting(4, "moments shown in each clip's frame strip", lo=1, hi=64)
    source_frame: int = setting(0, "self-reenactment: which frame of each clip is the source portrait", lo=0)
    batch: int = setting(16, "frames per feature-network batch", lo=1, hi=1024)


# ---- the whole configuration ---------------------------------------------------------------------
@dataclass
class Config(Section):
    faces: FaceOptions = section(FaceOptions, "stage 1: landmarks and crops")
    paths: PathOptions = section(PathOptions, "where assets and caches live")
    run: RunOptions = section(RunOptions, "the main job")
    render: RenderOptions = section(RenderOptions, "guidance-map rendering")
    align: AlignOptions = section(AlignOptions, "source shape + driving motion")
    warp: WarpOptions = section(WarpOptions, "the built-in warp engine (no learned weights)")
    generate: GenerateOptions = section(GenerateOptions, "learned generators")
    flame: FlameFileOptions = section(FlameFileOptions, "the user's licensed FLAME files (flame_assets/README.md)")
    tracking: TrackingOptions = section(TrackingOptions, "head tracking")
    eval: EvalOptions = section(EvalOptions, "`reenact eval`")


def check(obj: Any, prefix: str = "") -> str | None:
    """The first problem in a filled-in schema object, as 'key: what is wrong (allowed)', or None."""
    for f in fields(obj):
        value, key = getattr(obj, f.name), f"{prefix}{f.name}"
        if is_dataclass(value):
            problem = check(value, key + ".")
            if problem:
                return problem
            continue
        meta = f.metadata
        items = value if isinstance(value, list) else [value]
        for v in items:
            if v is None:
                continue
            if isinstance(v, float) and not math.isfinite(v):
                return f"{key}={v}: must be a finite number"
            if meta.get("choices") and v not in meta["choices"]:
                return f"{key}={v!r}: choose one of {', '.join(map(str, meta['choices']))}"
            lo, hi = meta.get("lo"), meta.get("hi")
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                too_low = lo is not None and (v <= lo if meta.get("lo_open") else v < lo)
                if too_low or (hi is not None and v > hi):
                    low = "" if lo is None else (f"> {lo}" if meta.get("lo_open") else f">= {lo}")
                    high = "" if hi is None else f"<= {hi}"
                    return f"{key}={v}: must be {' and '.join(p for p in (low, high) if p)}"
    return None


def describe(cls: type = Config, indent: str = "") -> list[str]:
    """The YAML text of the defaults with each field's help as a comment (default.yaml)."""
    lines = []
    for f in fields(cls):
        default = f.default if f.default is not MISSING else f.default_factory()
        if is_dataclass(default):
            lines.append(f"{indent}{f.name}:".ljust(28) + f"# {f.metadata.get('help', '')}")
            lines.extend(describe(type(default), indent + "  "))
            continue
        text = f"{indent}{f.name}: {_yaml_value(default)}"
        lines.append(text.ljust(28) + f"  # {f.metadata['help']}")
    return lines


def _yaml_value(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_yaml_value(v) for v in value) + "]"
    if isinstance(value, str):
        return value
    return repr(value)


def default_yaml() -> str:
    head = ["# reenact defaults, generated from reenact/schema.py (python -m reenact.schema); do not edit by hand.",
            "# Every key can be overridden from the CLI (--set key=value), a --config file or the Python API.",
            "# The resolved config is written next to every output so a result can be reproduced."]
    return "\n".join(head + describe()) + "\n"


if __name__ == "__main__":
    print(default_yaml(), end="")
