"""The layering rule of docs/layers.md: a layer imports only from the layers before it."""

import ast
from pathlib import Path

import pytest

ORDER = ["o3", "ops", "data", "descriptors", "nn", "models", "train", "calculators", "export", "sim", "groups", "testing",
         "cli"]
# Leaf modules with no irreps imports of their own, usable from every layer.
BASE = {"irreps", "irreps.capture", "irreps.config", "irreps.io"}
# Extra rules on top of the order.
FORBIDDEN = {"calculators": {"train"}, "export": {"train"}, "groups": set(ORDER) - {"groups"},
             "descriptors": set(ORDER) - {"descriptors"}}

SRC = Path(__file__).resolve().parents[1] / "src" / "irreps"


def _irreps_imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names if a.name.split(".")[0] == "irreps")
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "irreps":
            names.add(node.module)
    return names


@pytest.mark.parametrize("layer", ORDER)
def test_layer_imports_only_earlier_layers(layer):
    allowed = set(ORDER[: ORDER.index(layer) + 1]) - FORBIDDEN.get(layer, set())
    for path in sorted((SRC / layer).rglob("*.py")):
        for name in _irreps_imports(path):
            if name in BASE:
                continue
            target = name.split(".")[1]
            assert target in allowed, f"{path.relative_to(SRC)} imports {name}: layer '{layer}' may not use '{target}'"


def test_every_package_is_a_known_layer():
    packages = {p.name for p in SRC.iterdir() if p.is_dir() and not p.name.startswith(("_", "."))}
    packages -= {"datasets", "configs"}  # package data, not code
    assert packages <= set(ORDER), packages - set(ORDER)
