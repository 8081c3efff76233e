"""Rules of the house checked on the source itself (ast): checkpoints are read in one place, and every
typed error tells the user how to fix it."""

from __future__ import annotations

import ast

from paths import ROOT

PACKAGE = ROOT / "soundclip_core"
# errors with nothing to fix: the user asked for it
NO_FIX_NEEDED = {"Cancelled"}


def _sources() -> dict[str, ast.Module]:
    return {str(p.relative_to(PACKAGE.parent)): ast.parse(p.read_text(), str(p)) for p in sorted(PACKAGE.rglob("*.py"))}


def _error_classes(trees: dict[str, ast.Module]) -> set[str]:
    """SoundClipError and every class deriving from it anywhere in the package."""
    known, grew = {"SoundClipError"}, True
    while grew:
        grew = False
        for tree in trees.values():
            for node in ast.walk(tree):
                if isinstance(node, ast.ClassDef) and node.name not in known and any(
                        (b.id if isinstance(b, ast.Name) else getattr(b, "attr", None)) in known for b in node.bases):
                    known.add(node.name)
                    grew = True
    return known


def _called_name(call: ast.Call) -> str | None:
    func = call.func
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None


def _torch_loads(tree: ast.Module) -> list[int]:
    """Lines that call `torch.load` or `torch.jit.load`."""
    return [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Attribute) and node.attr == "load"
            and ast.unparse(node.value) in ("torch", "torch.jit")]


def test_no_torch_load_outside_the_checkpoint_home():
    assert _torch_loads(ast.parse("import torch\nx = torch.load(p)\ny = torch.jit.load(p)\njson.load(f)\n")) == [2, 3]
    pack = {str(p.relative_to(PACKAGE.parent)): ast.parse(p.read_text(), str(p))
            for p in [PACKAGE.parent / "__init__.py", *sorted((PACKAGE.parent / "nodes").rglob("*.py"))]}
    offenders = [f"{name}:{line}" for name, tree in {**_sources(), **pack}.items()
                 if not name.startswith("soundclip_core/checkpoints/") for line in _torch_loads(tree)]
    assert offenders == []


def _test_torch_loads(tree: ast.Module) -> list[int]:
    """Lines of a test that call `torch.load` outside a function that also calls `torch.save`: a test reads what
    the package wrote through the package's reader (the one the user's files go through), and only a helper that
    rewrites a fixture (load, damage, save) reads it raw. (`torch.jit.load` stays allowed: a test runs a fixture
    archive's program to show it is a trap the reader never springs.)"""
    rewriting = [f for f in ast.walk(tree) if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef)
                 and any(isinstance(n, ast.Attribute) and n.attr == "save" and ast.unparse(n.value) == "torch"
                         for n in ast.walk(f))]
    allowed = {line for f in rewriting for line in range(f.lineno, (f.end_lineno or f.lineno) + 1)}
    return [n.lineno for n in ast.walk(tree) if isinstance(n, ast.Attribute) and n.attr == "load"
            and ast.unparse(n.value) == "torch" and n.lineno not in allowed]


def test_tests_read_checkpoints_through_the_reader_too():
    snippet = ("def damage(p):\n    s = torch.load(p)\n    torch.save(s, p)\n"
               "def test_x(p):\n    s = torch.load(p)\n    torch.jit.load(p)\n")
    assert _test_torch_loads(ast.parse(snippet)) == [5]
    offenders = [f"{p.relative_to(ROOT)}:{line}" for p in sorted((ROOT / "tests").rglob("*.py"))
                 for line in _test_torch_loads(ast.parse(p.read_text(), str(p)))]
    assert offenders == []


def _without_fix(tree: ast.Module, classes: set[str]) -> list[int]:
    """Lines that build one of `classes` without `fix=` (raised at once or returned by a helper)."""
    return [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Call) and _called_name(node) in classes
            and not any(k.arg in ("fix", None) for k in node.keywords)]  # None: **kwargs passed on


def test_the_fix_rule_sees_what_it_checks():
    tree = ast.parse("class LocalError(CheckpointError): ...\n"
                     "raise errors.CheckpointError('x', path=p)\nraise LocalError('y', fix='z')\n"
                     "def helper():\n    return LocalError('w')\nraise Cancelled('stopped')\n")
    classes = _error_classes({**_sources(), "snippet": tree}) - NO_FIX_NEEDED
    assert _without_fix(tree, classes) == [2, 5]


def test_every_typed_error_carries_a_fix():
    trees = _sources()
    classes = _error_classes(trees) - NO_FIX_NEEDED
    missing = [f"{name}:{line}" for name, tree in trees.items() for line in _without_fix(tree, classes)]
    assert missing == []


def test_test_files_have_unique_names():
    """tests/ has no __init__.py files: pytest imports each test file by its base name, so two test files of the
    same name in different folders stop the whole run with an import-mismatch error."""
    from collections import Counter

    names = Counter(path.name for path in (ROOT / "tests").rglob("test_*.py"))
    assert [name for name, count in names.items() if count > 1] == []
