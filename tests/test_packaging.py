"""What `pip install reenact` (no extra) can do, and that setup.cfg, constraints.txt and the code agree."""

from __future__ import annotations

import ast
import configparser
import json
import re
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, packages_distributions, requires, version
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
DIFFUSION_LIBRARIES = ("diffusers", "transformers", "accelerate")
# imported only behind a check that says what to install (optional backends, platform extras)
OPTIONAL_IMPORTS = {"pytorch3d", "decord", "matplotlib"}
# distributions whose import name packages_distributions() cannot tell (no top_level record)
IMPORT_TO_DISTRIBUTION = {"dlib": "dlib-bin"}


def declared() -> dict[str, list[Requirement]]:
    """setup.cfg's requirements: 'core' and one entry per extra."""
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    parse = lambda text: [Requirement(line) for line in text.strip().splitlines() if line.strip()]  # noqa: E731
    groups = {"core": parse(cfg["options"]["install_requires"])}
    groups.update({extra: parse(text) for extra, text in cfg["options.extras_require"].items()})
    return groups


def names(requirements) -> set[str]:
    return {canonicalize_name(r.name) for r in requirements}


WARP_ONLY_SCRIPT = """
import json, sys
# a warp-only install: the diffusion extra and scikit-image are absent
for name in ("diffusers", "transformers", "accelerate", "skimage"):
    sys.modules[name] = None
from reenact.cli import main

out, face, weights = sys.argv[1:4]
common = ["-q", "--set", "run.preset_seconds=0.4", "--set", f"paths.cache_dir={out}/cache",
          "--set", f"paths.weights_dir={weights}"]
codes = {
    "demo": main(["demo", "-o", f"{out}/demo.mp4", *common]),
    "auto": main(["-s", face, "-d", "preset:blink", "-o", f"{out}/auto.mp4", *common]),
    "doctor": main(["doctor"]),
    "diffusion": main(["-s", face, "-d", "preset:blink", "-o", f"{out}/d.mp4", "--engine", "diffusion", *common]),
}
print(json.dumps(codes))
"""


@pytest.mark.slow
def test_a_warp_only_install_runs_the_demo_and_the_main_job(tmp_path, astronaut):
    from reenact.io.images import write_image
    from reenact.io.video import probe_video

    face = write_image(tmp_path / "face.png", astronaut)
    (tmp_path / "weights").mkdir()
    done = subprocess.run([sys.executable, "-c", WARP_ONLY_SCRIPT, str(tmp_path), str(face), str(tmp_path / "weights")],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    codes = json.loads(done.stdout.strip().splitlines()[-1])
    assert codes == {"demo": 0, "auto": 0, "doctor": 0, "diffusion": 5}, done.stderr[-2000:]
    assert probe_video(tmp_path / "demo.mp4").frame_count == 10
    assert probe_video(tmp_path / "auto.mp4").frame_count == 10
    # asking for the diffusion engine says which extra to install, in one line
    errors = [ln for ln in done.stderr.splitlines() if ln.startswith("reenact: error:")]
    assert len(errors) == 1 and "pip install 'reenact[diffusion]'" in errors[0]
    assert "Traceback" not in done.stderr


def test_core_requirements_leave_out_the_diffusion_libraries_and_unused_packages():
    groups = declared()
    core = names(groups["core"])
    assert not core & {"diffusers", "transformers", "accelerate", "einops", "rich", "scikit-image"}
    assert set(DIFFUSION_LIBRARIES) <= names(groups["diffusion"])
    assert {"reenact"} <= names(groups["test"])
    test_extras = next(r for r in groups["test"] if canonicalize_name(r.name) == "reenact").extras
    assert test_extras == set(groups) - {"core", "test"}       # the tests pull every other extra


def test_one_opencv_distribution_the_one_mediapipe_requires():
    opencv = {n for n in names(declared()["core"]) if n.startswith("opencv")}
    wanted = {canonicalize_name(Requirement(r).name) for r in requires("mediapipe") or [] if "opencv" in r}
    assert len(opencv) == 1 and opencv == wanted


def test_every_third_party_import_is_declared():
    provided = packages_distributions()
    everything = set().union(*(names(g) for g in declared().values()))
    undeclared = {}
    for path in (ROOT / "reenact").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                if top in sys.stdlib_module_names or top == "reenact" or top in OPTIONAL_IMPORTS:
                    continue
                dists = {canonicalize_name(d) for d in provided.get(top, [IMPORT_TO_DISTRIBUTION.get(top, top)])}
                if not dists & everything:
                    undeclared[top] = str(path.relative_to(ROOT))
    assert undeclared == {}


def test_the_installed_diffusers_is_the_pinned_minor_version():
    pin = next(r for r in declared()["diffusion"] if r.name == "diffusers")
    try:
        installed = version("diffusers")
    except PackageNotFoundError:
        pytest.skip("diffusers is not installed (no [diffusion] extra)")
    assert pin.specifier.contains(installed), f"diffusers {installed} is outside {pin.specifier}"
    # a minor-version pin: >=0.X and <0.(X+1)
    bounds = sorted(s.version for s in pin.specifier)
    major_minor = [tuple(int(p) for p in b.split(".")[:2]) for b in bounds]
    assert major_minor[1][1] == major_minor[0][1] + 1


def test_constraints_pin_every_declared_requirement_inside_its_range():
    lines = [ln.split("#")[0].strip() for ln in (ROOT / "constraints.txt").read_text().splitlines()]
    pins = {}
    for line in filter(None, lines):
        name, _, pinned = line.partition("==")
        pins[canonicalize_name(name)] = pinned
    assert "reenact" not in pins
    assert re.fullmatch(r"[0-9.]+", pins["torch"])     # no local build tag (+cpu): PyPI's builds must match
    for group, requirements in declared().items():
        for r in requirements:
            name = canonicalize_name(r.name)
            if name == "reenact" or (r.marker is not None and not r.marker.evaluate()):
                continue
            assert name in pins, f"{name} ({group}) is not pinned in constraints.txt"
            assert r.specifier.contains(pins[name]), f"constraints.txt pins {name}=={pins[name]} outside {r.specifier}"
