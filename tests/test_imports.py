"""The package's import structure: no cycles, stages never import the wiring above them, and the
warp path never pays for torch or the diffusion packages."""

import ast
import subprocess
import sys
from pathlib import Path

import reenact

PACKAGE = Path(reenact.__file__).parent
# the wiring above the stages: no stage package may import these
WIRING = {"reenact.cli", "reenact.console", "reenact.pipeline", "reenact.plan", "reenact.inventory",
          "reenact.driving", "reenact.batch"}
STAGES = ("reenact.faces", "reenact.tracking", "reenact.flame", "reenact.geometry", "reenact.render",
          "reenact.generate", "reenact.io")


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, name: str, modules: set[str]) -> set[str]:
    """Every reenact module `path` imports, at any depth of the file (function-local imports too)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        targets = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
        for t in targets:
            while t and t not in modules:
                t = t.rpartition(".")[0]
            if t and t != name:
                found.add(t)
    return found


def import_graph() -> dict[str, set[str]]:
    files = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: _imports(path, name, set(files)) for name, path in files.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            # a package's __init__ re-exporting its own submodules is not a cycle through them
            if nxt.startswith(node + "."):
                continue
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if state.get(nxt) is None and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if state.get(node) is None and (found := visit(node)):
            return found
    return None


def test_the_package_has_no_import_cycle():
    graph = import_graph()
    assert len(graph) > 50
    assert _cycle(graph) is None, " -> ".join(_cycle(graph))


def test_the_cycle_finder_finds_a_planted_cycle():
    graph = import_graph()
    graph["reenact.io.paths"] = graph["reenact.io.paths"] | {"reenact.pipeline"}
    assert _cycle(graph) is not None


def test_stages_never_import_the_wiring():
    offenders = [(mod, dep) for mod, deps in import_graph().items() if mod.startswith(STAGES)
                 for dep in deps if dep in WIRING]
    assert offenders == []


def _loaded_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return set(out.split())


def test_the_warp_engine_imports_no_torch():
    loaded = _loaded_after("import reenact.generate.warp")
    assert "torch" not in loaded and "diffusers" not in loaded


def test_planning_a_warp_run_imports_no_torch_or_diffusers():
    loaded = _loaded_after("from reenact.config import load_config; from reenact.plan import make_plan; "
                           "make_plan(load_config(overrides=['run.engine=auto']), 'video', device=None); "
                           "import reenact.pipeline, reenact.cli")
    assert not {"torch", "diffusers", "transformers", "accelerate"} & loaded
