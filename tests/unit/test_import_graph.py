"""The package's module-level imports form no circle, and the pod worker stands without the kubelet.

Imports under `if TYPE_CHECKING:` are exempt: they are never executed, and type annotations may name each other.
Imports inside functions are exempt too: they run late, after every module has loaded.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import podrun

SOURCE = Path(podrun.__file__).parent


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SOURCE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking_block(node: ast.stmt) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _module_level_imports(path: Path, modules: set[str]) -> set[str]:
    """The podrun modules `path` imports when it is loaded."""
    found: set[str] = set()
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    pending = list(ast.parse(path.read_text()).body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                # `from package import module` loads the module; `from module import name` loads the module.
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
        elif isinstance(node, ast.If | ast.Try) and not _is_type_checking_block(node):
            pending.extend(node.body)
            pending.extend(getattr(node, "orelse", []))
            for handler in getattr(node, "handlers", []):
                pending.extend(handler.body)
    return {name for name in found if name in modules}


def _import_graph() -> dict[str, set[str]]:
    paths = {_module_name(p): p for p in SOURCE.rglob("*.py")}
    return {name: _module_level_imports(path, set(paths)) - _self_and_packages(name) for name, path in paths.items()}


def _self_and_packages(name: str) -> set[str]:
    """A module and the packages it is in: already loaded when it runs, so importing them closes no circle."""
    parts = name.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts) + 1)}


def _find_circle(graph: dict[str, set[str]]) -> list[str] | None:
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> list[str] | None:
        if name in path:
            return [*path[path.index(name) :], name]
        if name in done:
            return None
        for target in sorted(graph.get(name, ())):
            circle = visit(target, [*path, name])
            if circle:
                return circle
        done.add(name)
        return None

    for module in sorted(graph):
        circle = visit(module, [])
        if circle:
            return circle
    return None


def test_no_module_imports_itself_through_others() -> None:
    circle = _find_circle(_import_graph())

    assert circle is None, "import circle: " + " -> ".join(circle or [])


def test_the_graph_sees_the_kubelets_imports() -> None:
    assert "podrun.kubelet.images" in _import_graph()["podrun.kubelet.kubelet"]


def test_importing_the_pod_worker_does_not_load_the_kubelet() -> None:
    probe = "import sys, podrun.kubelet.worker; print('podrun.kubelet.kubelet' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)

    assert result.stdout.strip() == "False"
