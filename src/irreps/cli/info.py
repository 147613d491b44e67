"""``irreps info``: versions, threads, devices and default dtype, for bug reports."""

from __future__ import annotations

import argparse
import platform


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "info",
        help="print versions, thread count, devices and default dtype",
        description="Print what a bug report needs: library versions, threads, devices, dtype.",
    )
    parser.set_defaults(func=run)


def _version(module_name: str) -> str:
    try:
        module = __import__(module_name)
    except ImportError:
        return "not installed"
    return getattr(module, "__version__", "unknown")


def run(args: argparse.Namespace) -> int:
    import torch

    import irreps

    rows = [
        ("irreps", irreps.__version__),
        ("python", platform.python_version()),
        ("platform", platform.platform()),
        ("torch", torch.__version__),
        ("numpy", _version("numpy")),
        ("ase", _version("ase")),
        ("vesin", _version("vesin")),
        ("e3nn (optional)", _version("e3nn")),
        ("torch threads", str(torch.get_num_threads())),
        ("default dtype", str(torch.get_default_dtype()).replace("torch.", "")),
        ("cuda", f"{torch.cuda.device_count()} device(s)" if torch.cuda.is_available() else "not available"),
    ]
    if torch.cuda.is_available():
        rows += [(f"cuda:{i}", torch.cuda.get_device_name(i)) for i in range(torch.cuda.device_count())]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    return 0
