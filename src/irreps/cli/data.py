"""``irreps data convert``: an extended-XYZ (or any ASE-readable) file to sharded HDF5 for training."""

from __future__ import annotations

import argparse

DESCRIPTION = """\
Convert a data file into a directory of HDF5 shards that `irreps train` reads lazily, for
datasets too large to read into memory (set data.train_file, valid_file or test_file to the
directory). Every frame is checked as training checks it; isolated-atom frames are kept apart
for the E0s. No neighbour list is stored: the cutoff stays a training option. Extended XYZ
remains the simplest choice for small data. Needs h5py (pip install irreps[data]).
"""

EPILOG = """\
examples:
  irreps data convert train.xyz train_h5/
  irreps data convert spice.xyz spice_h5/ --key energy=REF_energy --key forces=REF_forces --shard-size 50000
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("data", help="convert data files for training on large datasets",
                                   description=DESCRIPTION, epilog=EPILOG,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    convert = actions.add_parser("convert", help="write HDF5 shards from an ASE-readable file",
                                 description=DESCRIPTION, epilog=EPILOG,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    convert.add_argument("source", help="input file (extended XYZ or any ASE-readable format)")
    convert.add_argument("output", help="output directory (must not exist or be empty)")
    convert.add_argument("--shard-size", type=int, default=10000, metavar="N", help="structures per shard (default 10000)")
    convert.add_argument("--key", dest="keys", action="append", default=[], metavar="FIELD=KEY",
                         help="the key in the file holding a field, e.g. energy=REF_energy (repeatable); "
                         "the shards store standard names")
    convert.add_argument("--allow-close-atoms", action="store_true", help="accept structures with overlapping atoms")
    convert.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from irreps.data.shard_writer import convert_to_shards
    from irreps.train.config import key_spec

    keys = {}
    for text in args.keys:
        name, sep, key = text.partition("=")
        if not sep:
            raise ValueError(f"--key expects FIELD=KEY (e.g. energy=REF_energy), got {text!r}")
        keys[name.strip()] = key.strip()
    convert_to_shards(args.source, args.output, key_spec(keys, "--key"), args.shard_size, args.allow_close_atoms)
    return 0
