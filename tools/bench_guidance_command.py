"""`reenact guidance` (the Reenactor.guidance call the CLI makes) at 512, PNG and JPEG.

Per-frame cost = (a 64-frame run - a 1-frame run) / 63, so start-up, the source's face stage and
tracking drop out. Printed per format: wall time (what this machine gave, load included), CPU
time of the whole process (all threads) and CPU time of the calling thread alone (the render
thread; the files are encoded in background threads). On an idle machine with
two cores the wall time per frame is about max(render thread, whole process / 2): printed as
"idle 2-core estimate". Inputs: a FLAME-format head folder and a saved driving track made with it:

    python tools/make_test_head.py /tmp/head --size flame     # FLAME's 5023 vertices / ~10k triangles
    reenact track --driving CLIP.mp4 --out /tmp/d.npz --backend flame --max-frames 64 \
        --set paths.flame_dir=/tmp/head --set flame.model_file=/tmp/head/synthetic_test_head.pkl
    python tools/bench_guidance_command.py /tmp/head /tmp/d.npz SOURCE.jpg
"""
import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from reenact.pipeline import Reenactor
from reenact.tracking.types import HeadTrack
head, track_path, src = sys.argv[1], sys.argv[2], sys.argv[3]
work = Path(track_path).parent
t = HeadTrack.load(track_path)
one = HeadTrack(**{**t.__dict__, "params": {k: (v[:1] if v.ndim and v.shape[0] == len(t) else v) for k, v in t.params.items()},
                   "crop_transforms": t.crop_transforms[:1], "residuals": t.residuals[:1]})
one.save(work / "one_frame.npz")
import reenact.cli as cli
ns = cli._guidance_parser().parse_args(["-s", "x", "-d", "y", "-o", "z", "--set", f"paths.flame_dir={head}",
                                         "--set", f"flame.model_file={head}/synthetic_test_head.pkl", "-q"])
r = Reenactor(cli._config(ns), quiet=True)
for fmt in ("png", "jpg"):
    res = {}
    for name, drv in (("one", work / "one_frame.npz"), ("all", track_path)):
        walls, cpus, mains = [], [], []
        for rep in range(3):
            shutil.rmtree(work / "bench_out", ignore_errors=True)
            w, c, m = time.perf_counter(), time.process_time(), time.thread_time()
            r.guidance(src, drv, work / "bench_out", backend="flame", image_format=fmt)
            walls.append(time.perf_counter() - w); cpus.append(time.process_time() - c); mains.append(time.thread_time() - m)
        res[name] = (statistics.median(walls), statistics.median(cpus), statistics.median(mains))
    dw, dc, dm = ((res["all"][k] - res["one"][k]) / 63 for k in range(3))
    idle = max(dm, dc / 2)
    print(fmt, "64 frames: wall %.1f s cpu %.1f s; 1 frame: wall %.1f s; per frame: wall %.1f ms (%.1f fps), cpu %.1f ms "
          "(%.1f fps), render thread cpu %.1f ms; idle 2-core estimate %.1f ms (%.1f fps)"
          % (res["all"][0], res["all"][1], res["one"][0], dw * 1e3, 1 / dw, dc * 1e3, 1 / dc, dm * 1e3, idle * 1e3, 1 / idle))
