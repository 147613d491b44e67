"""Paths of the small real datasets shipped inside the package (see ``irreps/datasets/README.md``).

``acac_train``: 200 acetylacetone configurations (PBE-D3/def2-SVP energies and forces, 300 K);
``acac_test``: 100 test configurations (300 K MD); ``acac_isolated_atoms``: E0 of H, C, O at the
same level of theory; ``acac_hessians``: 20 configurations with GFN2-xTB energies, forces and
full Hessians (info key ``hessian``).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

BUNDLED_FILES: dict[str, str] = {
    "acac_train": "acac_train_300K_subset.xyz",
    "acac_test": "acac_test_300K_subset.xyz",
    "acac_isolated_atoms": "acac_isolated_atoms.xyz",
    "acac_hessians": "acac_hessians_subset.xyz",
}


def bundled_path(name: str) -> Path:
    """Filesystem path of the bundled dataset ``name`` (a key of ``BUNDLED_FILES``).

    Raises
    ------
    ValueError
        For an unknown name, listing the known ones.
    FileNotFoundError
        If the installed package lacks the file (an install without package data).
    """
    if name not in BUNDLED_FILES:
        raise ValueError(f"unknown bundled dataset '{name}'; available: {', '.join(BUNDLED_FILES)}")
    path = Path(str(resources.files("irreps").joinpath("datasets", BUNDLED_FILES[name])))
    if not path.is_file():
        raise FileNotFoundError(f"bundled dataset '{name}' is missing from the installation: {path}")
    return path


BUNDLED_PREFIX = "bundled:"


def resolve_data_path(text: str) -> Path:
    """A file path, or the path of the bundled dataset ``bundled:NAME``; ``FileNotFoundError``
    naming the path when there is no such file."""
    if text.startswith(BUNDLED_PREFIX):
        return bundled_path(text[len(BUNDLED_PREFIX):])
    path = Path(text).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"no such data file: {path}")
    return path


def bundled_paths() -> dict[str, Path]:
    """Every bundled dataset, name -> path."""
    return {name: bundled_path(name) for name in BUNDLED_FILES}
