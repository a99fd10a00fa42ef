"""The shape of the package (README, Architecture), checked on its source with ``ast``.

- Data flows one way: no module imports a layer above its own (LAYERS).
- No module imports another module's private (``_``) names, nor a private
  module outside its own package.
- No module over 300 lines, no function over 60 lines (docstring excluded)
  unless its docstring says why ("Longer than 60 lines because ...").
"""

import ast
from pathlib import Path

import pytest

import nnef_dists

SRC = Path(nnef_dists.__file__).parent
#: Layers, bottom first: a module may import its own layer and those below it.
LAYERS = [
    {
        "errors",
        "schema",
        "registry",
        "atomic",
        "numerics",
        "runtime",
        "parallel",
        "figures",
        "versions",
    },
    {"families"},
    {"sampling"},
    {"data"},
    {"models"},
    {"toolkit"},
    {"training"},
    {"inference", "flows", "fit"},
    {"cli", "generate_data", "models.*.train"},  # commands, and their python -m aliases
]
MAX_MODULE_LINES, MAX_FUNCTION_LINES = 300, 60
EXCUSE = "Longer than 60 lines because"


def _modules():
    for path in sorted(SRC.rglob("*.py")):
        parts = path.relative_to(SRC).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield ".".join(("nnef_dists", *parts)), path


MODULES = dict(_modules())


def layer_of(module: str) -> int:
    """The index in LAYERS of a module ``nnef_dists.<top>...``."""
    parts = module.split(".")[1:]
    if len(parts) == 3 and parts[0] == "models" and parts[2] == "train":
        parts = ["models.*.train"]
    for index, names in enumerate(LAYERS):
        if parts and parts[0] in names:
            return index
    raise AssertionError(f"{module} is in no layer; add its package to LAYERS")


def _imports(path: Path):
    """(line, imported module, names) of every nnef_dists import of a file."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("nnef_dists"):
                    yield node.lineno, alias.name, []
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("nnef_dists"):
            yield node.lineno, node.module, [alias.name for alias in node.names]


def test_every_module_has_a_layer():
    for module in MODULES:
        if module != "nnef_dists":
            layer_of(module)


def test_no_module_imports_a_layer_above_its_own():
    upward = []
    for module, path in MODULES.items():
        if module == "nnef_dists":
            continue
        for line, target, names in _imports(path):
            targets = [f"{target}.{n}" if f"{target}.{n}" in MODULES else target for n in names]
            for imported in targets or [target]:
                if imported != "nnef_dists" and layer_of(imported) > layer_of(module):
                    upward.append(f"{path.relative_to(SRC)}:{line} imports {imported}")
    assert not upward, "\n".join(upward)


def test_no_private_names_cross_modules():
    private = []
    for module, path in MODULES.items():
        package = module.rsplit(".", 1)[0]
        for line, target, names in _imports(path):
            hidden = [n for n in names if n.startswith("_")]
            owner = target.rsplit(".", 1)[0]
            if any(part.startswith("_") for part in target.split(".")) and owner != package:
                hidden.append(target)
            private += [f"{path.relative_to(SRC)}:{line} imports {name}" for name in hidden]
    assert not private, "\n".join(private)


def test_modules_are_short():
    long = {
        str(path.relative_to(SRC)): n
        for path in MODULES.values()
        if (n := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert not long, f"modules over {MAX_MODULE_LINES} lines: {long}"


def _function_lengths(path: Path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            docstring = ast.get_docstring(node) or ""
            span = node.end_lineno - node.lineno + 1
            if docstring:
                first = node.body[0]
                span -= first.end_lineno - first.lineno + 1
            yield node, span, docstring


def test_functions_are_short_or_say_why():
    long = [
        f"{path.relative_to(SRC)}:{node.lineno} {node.name} ({span} lines)"
        for path in MODULES.values()
        for node, span, docstring in _function_lengths(path)
        if span > MAX_FUNCTION_LINES and EXCUSE not in docstring
    ]
    assert not long, "\n".join(long)


@pytest.mark.parametrize(
    ("module", "layer"),
    [
        ("nnef_dists.errors", 0),
        ("nnef_dists.toolkit.build", 5),
        ("nnef_dists.models.mlp_et.train", 8),
        ("nnef_dists.cli.demo", 8),
    ],
)
def test_layer_of_examples(module, layer):
    assert layer_of(module) == layer
