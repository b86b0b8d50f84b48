"""Dependence runs one way (issue 29): no module imports from a layer above its own, as the diagram in
docs/architecture.md draws the layers; and every ``mmempathy`` name the README uses exists."""

from __future__ import annotations

import ast
import importlib
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "mmempathy"

# the model's convenience methods that import a higher layer when called: each stays a one-line delegate
DELEGATES = {
    "mmempathy.model": {
        "EmotionFuser.predict_video",
        "EmotionFuser.stream",
        "EmotionFuser.feedback",
        "EmotionFuser.adapt",
        "EmotionFuser.use_adapter",
        "EmotionFuser.from_onnx",
    }
}


@dataclass(frozen=True)
class Import:
    """One ``import`` statement's dependence: ``target`` (a module), where it is and the function it is in."""

    target: str
    line: int
    function: str | None  # qualified name (``EmotionFuser.stream``), None at module level
    text: str


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def layers() -> dict[str, tuple[int, str]]:
    """Each name of the diagram (``mmempathy.media.decode``) -> its layer's number and title."""
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    (diagram,) = re.findall(r"^## Layers.*?^```text\n(.*?)^```", text, flags=re.M | re.S)
    found, layer = {}, None
    for line in diagram.splitlines():
        if row := re.match(r"(\d+)\s+(.+?)\s{2,}(\S.*)$", line):
            layer, names = (int(row[1]), row[2]), row[3]
        elif layer and re.fullmatch(r"\s+[\w.]+(,\s*[\w.]+)*,?", line):  # a layer's names go on below
            names = line
        else:
            continue
        for name in filter(None, (n.strip() for n in names.split(","))):
            found["mmempathy" if name == "mmempathy" else f"mmempathy.{name}"] = layer
    return found


LAYERS = layers()


def layer_of(module: str) -> tuple[int, str] | None:
    """The layer of the longest diagram name that is ``module`` or a package holding it."""
    owners = [name for name in LAYERS if module == name or module.startswith(name + ".") and name != "mmempathy"]
    return LAYERS[max(owners, key=len)] if owners else None


def imports(module: str, source: str) -> list[Import]:
    """The package modules ``source`` imports: at the top, in functions and under ``TYPE_CHECKING``."""
    package = module if MODULES.get(module, Path()).name == "__init__.py" else module.rpartition(".")[0]
    lines, found = source.splitlines(), []

    def visit(node: ast.AST, function: str | None, scope: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{scope}{child.name}"
                visit(child, name if not isinstance(child, ast.ClassDef) else function, name + ".")
                continue
            targets = []
            if isinstance(child, ast.Import):
                targets = [a.name for a in child.names]
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - child.level + 1] + [base]).strip(".")
                # ``from mmempathy import hub`` depends on the submodule, ``from mmempathy import X`` on the package
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in child.names]
            for target in dict.fromkeys(t for t in targets if t.split(".")[0] == "mmempathy"):
                found.append(Import(target, child.lineno, function, lines[child.lineno - 1].strip()))
            visit(child, function, scope)

    visit(ast.parse(source), None, "")
    return found


def is_delegate(module: str, source: str, qualname: str) -> bool:
    """Whether ``qualname``'s body is a docstring, one import and one statement."""
    nodes = {f"{c.name}.{f.name}": f for c in ast.walk(ast.parse(source)) if isinstance(c, ast.ClassDef)
             for f in c.body if isinstance(f, ast.FunctionDef)}  # fmt: skip
    body = list(nodes[qualname].body) if qualname in nodes else []
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    return len(body) == 2 and isinstance(body[0], ast.ImportFrom) and isinstance(body[1], (ast.Return, ast.Expr))


def upward(module: str, source: str) -> list[str]:
    """Each import of ``source`` (the text of ``module``) that reaches a higher layer, described for a reader."""
    own, problems = layer_of(module), []
    for imp in imports(module, source):
        theirs = layer_of(imp.target)
        if own is None or theirs is None or theirs[0] <= own[0]:
            continue
        if imp.function in DELEGATES.get(module, ()) and is_delegate(module, source, imp.function):
            continue
        where = f"{MODULES[module].relative_to(ROOT)}:{imp.line}"
        inside = f" in {imp.function}" if imp.function else ""
        problems.append(
            f"{where}: {module} (layer {own[0]}, {own[1]}) imports {imp.target} "
            f"(layer {theirs[0]}, {theirs[1]}){inside}: `{imp.text}`"
        )
    return problems


def test_every_module_sits_in_a_layer_and_every_name_of_the_diagram_exists():
    assert [m for m in MODULES if layer_of(m) is None] == [], "add them to the diagram in docs/architecture.md"
    stale = [n for n in LAYERS if n not in MODULES and not any(m.startswith(n + ".") for m in MODULES)]
    assert stale == [], "the diagram in docs/architecture.md names modules that do not exist"
    assert [n for _, n in sorted(set(LAYERS.values()))][:4] == ["foundation", "media files", "model parts", "model"]


def test_no_module_imports_from_a_higher_layer():
    problems = [p for m, path in MODULES.items() for p in upward(m, path.read_text(encoding="utf-8"))]
    assert problems == [], "lower layers import higher ones (docs/architecture.md):\n" + "\n".join(problems)


def test_the_models_delegates_stay_one_line_delegates():
    module, methods = "mmempathy.model", DELEGATES["mmempathy.model"]
    source = MODULES[module].read_text(encoding="utf-8")
    assert [q for q in sorted(methods) if not is_delegate(module, source, q)] == []
    reached = {layer_of(i.target)[1] for i in imports(module, source) if i.function in methods}
    assert reached == {"video", "applications"}


@pytest.mark.parametrize(
    ("module", "code", "offending"),
    [
        ("mmempathy.fusion", "from mmempathy.model import EmotionFuser\n", "mmempathy.model"),
        ("mmempathy.media.decode", "def f():\n    import mmempathy.media.pipeline\n", "mmempathy.media.pipeline"),
        ("mmempathy.model", "if TYPE_CHECKING:\n    from mmempathy.onnx import X\n", "mmempathy.onnx"),
        ("mmempathy.processing", "from mmempathy import EmotionFuser\n", "mmempathy (layer 7"),
        # a delegate that grew a second statement, and a method not on the list
        (
            "mmempathy.model",
            "class EmotionFuser:\n    def stream(self):\n        from mmempathy.media.live import stream\n"
            "        x = 1\n        return stream(self)\n",
            "in EmotionFuser.stream",
        ),
        (
            "mmempathy.model",
            "class EmotionFuser:\n    def export(self):\n        from mmempathy.onnx import export_onnx\n"
            "        return export_onnx(self)\n",
            "in EmotionFuser.export",
        ),
    ],
)
def test_an_upward_import_is_reported_with_its_file_line_and_text(module, code, offending):
    (problem,) = upward(module, code)
    assert offending in problem and f"{MODULES[module].relative_to(ROOT)}:" in problem and "`" in problem


def readme_names() -> set[str]:
    """Every ``mmempathy`` name the README's code (blocks and inline) imports or reaches by attribute
    (``mmempathy.x.y``)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = r"^```\w*\n(.*?)^```"
    inline = re.findall(r"`([^`\n]+)`", re.sub(block, "", text, flags=re.M | re.S))
    code = "\n".join(re.findall(block, text, flags=re.M | re.S) + inline)
    names = set(re.findall(r"\b(mmempathy(?:\.\w+)+)", code))
    for module, listed in re.findall(r"from (mmempathy[\w.]*) import \(?([\w, ]+)", code):
        names |= {f"{module}.{n.split(' as ')[0].strip()}" for n in listed.split(",") if n.strip()}
    names |= set(re.findall(r"^\s*import (mmempathy[\w.]*)", code, flags=re.M))
    return names


def resolves(name: str) -> bool:
    """Whether ``name`` is a module or a module's attribute, importing what it needs."""
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            value = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[cut:]:
            if not hasattr(value, attribute):
                return False
            value = getattr(value, attribute)
        return True
    return False


def test_every_mmempathy_name_the_readme_uses_exists():
    names = readme_names()
    assert {"mmempathy.EmotionFuser", "mmempathy.train.Trainer", "mmempathy.respond.Responder"} <= names
    assert sorted(n for n in names if not resolves(n)) == []
