"""The shape of the house, read from the source with `ast` (nothing is imported): soundclip_core's import
graph has no cycles, nothing imports from a layer above its own, no module takes another package's private
names, and the two generator architectures never import each other and sit below the one loader.

Every import counts, also those inside functions: a lazy import is a dependency all the same (the
StyleGAN2 <-> StyleGAN3 cycle this test was written against was one).
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

import pytest
from paths import ROOT

PACKAGE = "soundclip_core"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _package_of(module: str, path: Path) -> str:
    """The package a module belongs to: itself for an __init__.py, else its parent."""
    return module if path.name == "__init__.py" else module.rpartition(".")[0]


class Module:
    def __init__(self, path: Path):
        self.path, self.name = path, _module_name(path)
        self.package = _package_of(self.name, path)
        self.tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


MODULES = {m.name: m for m in map(Module, sorted((ROOT / PACKAGE).rglob("*.py")))}


def _resolve(module: Module, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.package.split(".")
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports(module: Module) -> list[tuple[str, str | None]]:
    """(imported soundclip module, name taken from it or None) for every import statement in `module`."""
    found = []
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, None) for alias in node.names if alias.name.split(".")[0] == PACKAGE]
        elif isinstance(node, ast.ImportFrom):
            source = _resolve(module, node)
            if source.split(".")[0] != PACKAGE:
                continue
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                found.append((submodule, None) if submodule in MODULES else (source, alias.name))
    return found


def graph() -> dict[str, set[str]]:
    edges = defaultdict(set)
    for module in MODULES.values():
        for target, _ in imports(module):
            if target in MODULES and target != module.name:
                edges[module.name].add(target)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
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
                found.append(sorted(component))

    for v in sorted(set(edges) | {w for targets in edges.values() for w in targets}):
        if v not in index:
            visit(v)
    return found


def test_the_graph_reader_sees_relative_imports_and_cycles():
    """The checks below are only as good as the graph: a known edge is found, a made-up cycle is reported."""
    assert "soundclip_core.generators.loader" in graph()["soundclip_core.generators"]
    assert "soundclip_core.checkpoints.formats" in graph()["soundclip_core.generators.loader"]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycles():
    assert cycles(graph()) == []


def test_no_private_name_taken_from_another_package():
    offences = []
    for module in MODULES.values():
        aliases = {}  # local name -> soundclip module, for `module._name` attribute uses
        for node in ast.walk(module.tree):
            if isinstance(node, ast.ImportFrom) and _resolve(module, node).split(".")[0] == PACKAGE:
                source = _resolve(module, node)
                for alias in node.names:
                    target = f"{source}.{alias.name}"
                    if target in MODULES:
                        aliases[alias.asname or alias.name] = target
                    elif alias.name.startswith("_") and MODULES[source].package != module.package:
                        offences.append(f"{module.name}: from {source} import {alias.name}")
            elif isinstance(node, ast.Import):
                aliases.update({a.asname: a.name for a in node.names if a.asname and a.name in MODULES})
        for node in ast.walk(module.tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases \
                    and node.attr.startswith("_") and not node.attr.startswith("__"):
                target = MODULES[aliases[node.value.id]]
                if target.package != module.package:
                    offences.append(f"{module.name}: {target.name}.{node.attr}")
    assert offences == []


def _generator_imports(folder: str) -> dict[str, set[str]]:
    prefix = f"{PACKAGE}.generators.{folder}"
    return {m.name: {t for t, _ in imports(m)} for m in MODULES.values() if m.name.startswith(prefix)}


@pytest.mark.parametrize("architecture, other", [("stylegan2", "stylegan3"), ("stylegan3", "stylegan2")])
def test_architectures_never_import_each_other_nor_the_loader(architecture, other):
    taken = {(name, target) for name, targets in _generator_imports(architecture).items() for target in targets
             if target.startswith((f"{PACKAGE}.generators.{other}", f"{PACKAGE}.generators.loader"))
             or target == f"{PACKAGE}.generators"}
    assert taken == set()


def test_generators_import_nothing_above_their_layer():
    """Generators (an engine) use the formats and base below them, never capabilities, the CLI or nodes."""
    below = ("generators", "checkpoints", "errors", "atomic", "runtime", "optional")
    upward = {(name, target) for name, targets in _generator_imports("").items() for target in targets
              if target != PACKAGE and target.split(".")[1] not in below}
    assert upward == set()


# The layers of soundclip_core, top to bottom (CONTRIBUTING.md): a module imports from its own layer or below.
LAYERS = (
    ("front ends", {"cli", "__main__"}),
    ("capabilities", {"manipulate", "invert", "video", "train", "evaluate", "directions", "analysis", "locate",
                      "search"}),
    ("engines", {"generators", "encoders", "clip", "arcface", "audio", "datasets", "embedding", "image", "picture",
                 "latents", "noise_maps", "memory", "faces"}),
    ("formats", {"checkpoints", "weights"}),
    ("base", {"errors", "runtime", "atomic", "optional", "", "timing"}),
)


def _component(module: str) -> str:
    """The package or module directly under soundclip_core ('' for soundclip_core itself)."""
    return module.split(".")[1] if "." in module else ""


def _layer(component: str) -> int:
    return next(i for i, (_, members) in enumerate(LAYERS) if component in members)


def test_every_part_of_the_core_has_a_layer():
    placed = set().union(*(members for _, members in LAYERS))
    assert {_component(name) for name in MODULES} - placed == set()


def test_nothing_imports_from_a_layer_above_its_own():
    upward = sorted(f"{module.name} ({LAYERS[_layer(_component(module.name))][0]}) -> {target} "
                    f"({LAYERS[_layer(_component(target))][0]})"
                    for module in MODULES.values() for target, _ in imports(module)
                    if _layer(_component(target)) < _layer(_component(module.name)))
    assert upward == []


def contributing_layers(markdown: str) -> list[tuple[str, set[str]]]:
    """(layer, its soundclip_core members) from CONTRIBUTING.md's layer table: every `name/` or `name.py` in a
    row (`__init__.py` is the package itself, ''; `nodes/`, the pack above the core, is left out)."""
    rows = []
    for line in markdown.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")] if line.startswith("|") else []
        if len(cells) != 2 or cells[0] in ("layer", "---"):
            continue
        names = re.findall(r"`(?:soundclip_core/)?(\w+)(?:/|\.py)`", cells[1])
        rows.append((cells[0], {"" if n == "__init__" else n for n in names if n != "nodes"}))
    return rows


def test_contributing_lists_exactly_the_layers():
    assert contributing_layers("| layer | modules |\n| --- | --- |\n| base | `__init__.py`, `errors.py` (x), `x` |\n"
                               "| front ends | `nodes/`, `soundclip_core/cli/` |\n") == [
        ("base", {"", "errors"}), ("front ends", {"cli"})]
    assert contributing_layers((ROOT / "CONTRIBUTING.md").read_text()) == list(LAYERS)
