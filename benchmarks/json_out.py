"""Write a benchmark's records as JSON atomically (a temporary file in the same folder, then a rename)."""

from __future__ import annotations

import json
import os
import tempfile


def write_json(path: str, payload) -> None:
    """Dump ``payload`` to ``path``; a reader never sees a half-written file."""
    directory = os.path.dirname(os.path.abspath(path))
    with tempfile.NamedTemporaryFile("w", dir=directory, delete=False, suffix=".tmp") as handle:
        json.dump(payload, handle, indent=1)
    os.replace(handle.name, path)
