"""The package's layering (docs: DESIGN.md, "Layout"): `agent/` is DreamerV3 only, and no
module imports one that imports it back, counting imports inside functions."""

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "genreward_cli"
# what agent/ must not import, at module level or inside functions
NOT_FOR_AGENT = ("rewards", "envs", "store", "stages", "commands", "video", "goal", "fb",
                 "evaluate", "pipeline", "inspection")

BLOCKED_IMPORT = """
import importlib, importlib.abc, pkgutil, sys

BLOCKED = {blocked!r}


class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if any(name == b or name.startswith(b + ".") for b in BLOCKED):
            raise ImportError(f"{{name}} is blocked: agent/ imports no stage, reward or env code")
        return None


sys.meta_path.insert(0, Blocker())
import genreward_cli.agent as agent

for module in sorted(m.name for m in pkgutil.iter_modules(agent.__path__)):
    importlib.import_module(f"genreward_cli.agent.{{module}}")
    print(module)
"""


def agent_modules() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules([str(PACKAGE / "agent")]))


def test_every_agent_module_imports_without_stage_reward_or_env_code():
    """In a process where importing those packages raises, every module of agent/ imports."""
    blocked = [f"genreward_cli.{name}" for name in NOT_FOR_AGENT]
    r = subprocess.run([sys.executable, "-c", BLOCKED_IMPORT.format(blocked=blocked)],
                       capture_output=True, text=True, cwd=PACKAGE.parent, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == agent_modules()


def modules() -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its own name)."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def import_graph() -> dict[str, set[str]]:
    """module -> the package's modules it imports, from every import statement of its source
    (inside functions and ``if TYPE_CHECKING`` too): ``from a import b`` imports the module
    ``a.b`` where it is one, else ``a``; a name outside the package is left out."""
    known = modules()

    def module_of(name: str) -> str | None:
        while name and name not in known:
            name = name.rpartition(".")[0]
        return name or None

    graph = {}
    for name, path in known.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets.update(module_of(a.name) for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                source = node.module or ""
                if node.level:  # relative: from the importer's package, up level - 1
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    source = ".".join(base + ([source] if source else []))
                targets.update(module_of(f"{source}.{a.name}") if f"{source}.{a.name}" in known
                               else module_of(source) for a in node.names)
        graph[name] = targets - {None, name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as [a, b, ..., a], or None (depth-first search)."""
    state, path = {}, []  # state: 1 on the current path, 2 done

    def visit(node):
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def test_agent_imports_nothing_of_the_stages_rewards_or_envs_even_inside_functions():
    found = {f"{module} imports {target}" for module, targets in import_graph().items()
             if within(module, "genreward_cli.agent") for target in targets
             if any(within(target, f"genreward_cli.{name}") for name in NOT_FOR_AGENT)}
    assert not found, "\n".join(sorted(found))


def test_the_import_graph_has_no_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_find_cycle_names_the_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


NO_CLICK_IMPORT = """
import importlib, importlib.abc, pkgutil, sys


class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "click" or name.startswith("click."):
            raise ImportError("click is blocked: the stages are a library")
        return None


sys.meta_path.insert(0, Blocker())
for package in ("genreward_cli.stages", "genreward_cli.store"):
    pkg = importlib.import_module(package)
    for module in sorted(m.name for m in pkgutil.iter_modules(pkg.__path__)):
        importlib.import_module(f"{package}.{module}")
        print(f"{package}.{module}")
"""


def test_stages_and_store_import_without_click():
    """Every module of stages/ and store/ imports in a process where importing click raises:
    a stage is callable from Python without the CLI."""
    r = subprocess.run([sys.executable, "-c", NO_CLICK_IMPORT], capture_output=True, text=True,
                       cwd=PACKAGE.parent, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    expected = [f"genreward_cli.{p}.{m.name}" for p in ("stages", "store")
                for m in pkgutil.iter_modules([str(PACKAGE / p)])]
    assert sorted(r.stdout.split()) == sorted(expected)
