"""The shape of the code, enforced: layers import only downward, no import cycles, the config
layer and ``genimg --help`` stay free of torch, no family branching outside models/, and one
concept per file: no file sprawls past 700 lines, and no module is a fragment under 40 lines.

The layers, bottom to top (docs/ARCHITECTURE.md explains each):

    utilities (errors, io, images, plotting, rng) -> config -> data -> models -> runs
    -> evaluate -> train -> tasks -> experiments -> studio -> cli (and demo, __main__)

A module may import from its own layer or any layer below. Imports inside functions count;
imports under ``if TYPE_CHECKING:`` do not (they never run).
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "genimg"

LAYERS = [
    ("utilities", ["genimg", "genimg.errors", "genimg.io", "genimg.images", "genimg.plotting", "genimg.rng"]),
    ("config", ["genimg.config"]),
    ("data", ["genimg.data"]),
    ("models", ["genimg.models"]),
    ("runs", ["genimg.runs"]),
    ("evaluate", ["genimg.evaluate"]),
    ("train", ["genimg.train"]),
    ("tasks", ["genimg.tasks"]),
    ("experiments", ["genimg.experiments"]),
    ("studio", ["genimg.studio"]),
    ("cli", ["genimg.cli", "genimg.demo", "genimg.__main__"]),
]
# One concept per file, as long as the concept needs: the ceiling only catches real sprawl, and
# the floor catches a concept scattered over fragments (a reader should not open five files to
# follow one idea). Package ``__init__`` faces and ``__main__`` are exempt from the floor.
MAX_LINES = 700
MIN_LINES = 40
# Modules that are short and whole: the path under src/ and why it stands alone.
SHORT_MODULES = {
    "genimg/errors.py": "the one exception type; every layer imports it as genimg.errors.UserError",
}


def module_files() -> dict[str, Path]:
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(SRC).with_suffix("").parts)
        modules[name.removesuffix(".__init__")] = path
    return modules


def layer_of(module: str) -> int:
    """The rank of the most specific layer prefix that contains ``module``."""
    best, best_len = None, -1
    for rank, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best_len:
                best, best_len = rank, len(prefix)
    assert best is not None, f"{module} belongs to no layer; add it to LAYERS"
    return best


def _runtime_imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement that can run: all of them except those under ``if TYPE_CHECKING:``."""
    found = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def import_graph() -> dict[str, set[str]]:
    """module -> the genimg modules it imports (the most specific module each import names)."""
    modules = module_files()
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for module, path in modules.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for node in _runtime_imports(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:
                    parts = package.split(".")
                    base = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
                targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != module and not module.startswith(target + "."):
                    graph[module].add(target)
                    break
    return graph


def test_layers_import_only_downward():
    upward = [
        f"{m} ({LAYERS[layer_of(m)][0]}) imports {t} ({LAYERS[layer_of(t)][0]})"
        for m, targets in import_graph().items()
        for t in targets
        if layer_of(t) > layer_of(m)
    ]
    assert not upward, "upward imports:\n" + "\n".join(sorted(upward))


def test_no_import_cycles():
    graph = import_graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    assert not cycles, "import cycles: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_the_graph_sees_imports_inside_functions(tmp_path):
    """The checks above would be toothless if a deferred import escaped them."""
    tree = ast.parse("def f():\n    from genimg.cli import main\nif TYPE_CHECKING:\n    import genimg.studio\n")
    names = [n.module if isinstance(n, ast.ImportFrom) else n.names[0].name for n in _runtime_imports(tree)]
    assert names == ["genimg.cli"]


def _python(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_configs_are_read_and_validated_without_torch():
    out = _python(
        "import sys\n"
        "from genimg.config import default_config, apply_overrides, families\n"
        "for f in families():\n"
        "    apply_overrides(default_config(f.name), {'epochs': 3}).to_yaml()\n"
        "print('torch' in sys.modules)\n"
    )
    assert out.strip() == "False"


def test_help_imports_no_verb_module_and_no_torch():
    out = _python(
        "import sys\n"
        "from genimg.cli import build_parser\n"
        "build_parser().format_help()\n"
        "heavy = ('genimg.tasks', 'genimg.experiments', 'genimg.train', 'torch')\n"
        "loaded = [m for m in sys.modules if m.startswith(heavy)]\n"
        "print(loaded)\n"
    )
    assert out.strip() == "[]"


FAMILY_BRANCH = re.compile(r"family [!=]= ['\"]|inspect\.signature")


def test_no_family_branching_outside_models():
    offenders = [
        f"{path.relative_to(SRC)}:{n}"
        for path in PACKAGE.rglob("*.py")
        if "models" not in path.relative_to(PACKAGE).parts
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if FAMILY_BRANCH.search(line)
    ]
    assert not offenders, "ask the model for a capability instead: " + ", ".join(offenders)


def _line_count(path: Path) -> int:
    return path.read_text().count("\n")


def test_no_file_sprawls():
    long_files = [
        f"{path.relative_to(SRC)} ({_line_count(path)} lines)"
        for path in PACKAGE.rglob("*.py")
        if _line_count(path) > MAX_LINES
    ]
    assert not long_files, f"over {MAX_LINES} lines; split it by concept: " + ", ".join(long_files)


def test_no_module_is_a_fragment():
    short = [
        f"{path.relative_to(SRC)} ({_line_count(path)} lines)"
        for path in PACKAGE.rglob("*.py")
        if path.name not in ("__init__.py", "__main__.py")
        and path.relative_to(SRC).as_posix() not in SHORT_MODULES
        and _line_count(path) < MIN_LINES
    ]
    assert not short, (
        f"under {MIN_LINES} lines; fold it into the module whose concept it belongs to "
        "(or, if it stands alone, add it to SHORT_MODULES with the reason): " + ", ".join(short)
    )


def test_the_short_module_list_names_short_modules():
    """An entry outlives its reason when its module is gone or has grown past the floor."""
    stale = [name for name in SHORT_MODULES if not (SRC / name).is_file() or _line_count(SRC / name) >= MIN_LINES]
    assert not stale, "remove from SHORT_MODULES: " + ", ".join(stale)


@pytest.mark.parametrize("module", sorted(module_files()))
def test_every_module_has_a_docstring(module):
    path = module_files()[module]
    text = path.read_text()
    if text.strip():
        assert ast.get_docstring(ast.parse(text)), f"{path.relative_to(SRC)} says nothing about what it is for"
