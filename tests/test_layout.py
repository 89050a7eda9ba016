"""The package's layout, checked statically (with `ast`, nothing imported):

- imports point one way, down `LAYERS`: a module imports only its own folder and the folders
  below it, and no set of modules imports itself in a loop;
- the online side (`tfrec.serving`) imports no training, tuning, evaluation or stage code;
- imports sit at module top, except those deferred on purpose and marked with a comment
  that says `deferred` (a heavy optional dependency, or the CLI's fast start);
- no module-level mutable caches, and no run-directory path joined outside `RunDir`;
- no file over 600 lines.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "tfrec"

# lowest first; `tfrec` itself (its __init__ sets TF_USE_LEGACY_KERAS) may be imported by all
LAYERS = [
    "config",
    "core",
    "data",
    "text",
    "models",
    "training",
    "shop",
    "report",
    "evaluation",
    "index",
    "export",
    "tuning",
    "stages",
    "serving",
    "bench",
    "cli",
]
SERVING_MAY_IMPORT = {"config", "core", "data", "text", "shop", "serving"}
MAX_LINES = 600
# the parts a run directory is made of: joining them is RunDir's job alone
RUN_PATH_PARTS = {
    "config.yaml",
    "data",
    "raw",
    "clean",
    "report.json",
    "retrieval",
    "ranking",
    "tuning",
    "index",
    "export",
    "report",
    "metrics.json",
    "models.config",
    "added_items.parquet",
    "items.parquet",
    "events.parquet",
    "judgments.parquet",
    "users.parquet",
    "index.html",
    "ranking.html",
    "shop.html",
    "tuning.html",
}


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


MODULES = _modules()


def _type_checking_nodes(tree: ast.Module) -> set[int]:
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip |= {id(n) for child in node.body for n in ast.walk(child)}
    return skip


def _imports(name: str, path: Path) -> list[tuple[str, ast.AST]]:
    """(imported tfrec module, node) for every import of the module, resolved to a module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _type_checking_nodes(tree)
    is_pkg = path.name == "__init__.py"
    out = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        targets = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = name.split(".") if is_pkg else name.split(".")[:-1]
                parts = parts[: len(parts) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            targets = [
                f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names
            ]
        for target in targets:
            while target and target not in MODULES:
                target = target.rpartition(".")[0]
            if target and target != name:
                out.append((target, node))
    return out


GRAPH = {name: sorted({t for t, _ in _imports(name, path)}) for name, path in MODULES.items()}


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def test_every_folder_has_a_layer():
    assert {_layer(m) for m in MODULES} - {None} <= set(LAYERS)


def test_imports_point_down_the_layers():
    wrong = []
    for module, targets in GRAPH.items():
        here = _layer(module)
        for target in targets:
            there = _layer(target)
            if here is None or there is None:
                continue  # `tfrec` itself
            if LAYERS.index(there) > LAYERS.index(here):
                wrong.append(f"{module} -> {target} ({here} is below {there})")
    assert not wrong, "imports pointing up the layers:\n" + "\n".join(wrong)


def test_no_import_cycles():
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(v):  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in GRAPH[v]:
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

    for v in GRAPH:
        if v not in index:
            visit(v)
    assert not cycles, f"import cycles: {cycles}"


def test_the_graph_sees_real_edges():
    # the checks above would pass vacuously on a walker that finds nothing
    assert "tfrec.core.rundir" in GRAPH["tfrec.stages"] or any(
        "tfrec.core" in t for t in GRAPH["tfrec.stages"]
    )
    assert "tfrec.stages.artifacts" in GRAPH["tfrec.stages.data"]


def test_serving_imports_no_training_code():
    wrong = [
        f"{m} -> {t}"
        for m, targets in GRAPH.items()
        if _layer(m) == "serving"
        for t in targets
        if _layer(t) is not None and _layer(t) not in SERVING_MAY_IMPORT
    ]
    assert not wrong, "tfrec.serving imports training-side code:\n" + "\n".join(wrong)


def _function_imports(path: Path):
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    tree = ast.parse(source)
    skip = _type_checking_nodes(tree)
    top = {id(n) for n in tree.body}
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)) and id(node) not in top:
            if id(node) in skip or any(
                isinstance(p, ast.If) and id(node) in {id(n) for n in p.body} for p in tree.body
            ):
                continue
            context = " ".join(lines[max(0, node.lineno - 3) : node.end_lineno])
            if "deferred" not in context:
                yield f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)}"


def test_imports_at_module_top_unless_deferred_on_purpose():
    wrong = [hit for path in MODULES.values() for hit in _function_imports(path)]
    assert not wrong, "imports inside functions without a `deferred` reason:\n" + "\n".join(wrong)


def test_no_module_level_mutable_caches():
    wrong = []
    for path in MODULES.values():
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            value = getattr(node, "value", None)
            empty = (
                isinstance(value, (ast.Dict, ast.List, ast.Set))
                and not getattr(value, "keys", getattr(value, "elts", None))
            ) or (
                isinstance(value, ast.Call)
                and ast.unparse(value.func) in ("dict", "list", "set", "OrderedDict", "defaultdict")
                and not value.args
            )
            if isinstance(node, (ast.Assign, ast.AnnAssign)) and empty:
                wrong.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)}")
    assert not wrong, "module-level mutable state:\n" + "\n".join(wrong)


def test_no_run_path_joined_outside_rundir():
    wrong = []
    for name, path in MODULES.items():
        if name == "tfrec.core.rundir":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.BinOp)
                and isinstance(node.op, ast.Div)
                and isinstance(node.right, ast.Constant)
                and node.right.value in RUN_PATH_PARTS
            ):
                wrong.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)}")
    assert not wrong, "run paths joined outside RunDir:\n" + "\n".join(wrong)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_file_over_the_limit(name):
    lines = MODULES[name].read_text(encoding="utf-8").count("\n")
    assert lines <= MAX_LINES, f"{MODULES[name].relative_to(ROOT)} has {lines} lines"
