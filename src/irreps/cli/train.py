"""``irreps train``: fit an interatomic potential from a YAML config (or the shipped quickstart)."""

from __future__ import annotations

import argparse

DESCRIPTION = """\
Train an interatomic potential on extended-XYZ (or any ASE-readable) energies and forces.

With no CONFIG, the shipped quickstart config trains a small TensorNet on the bundled
acetylacetone subset (a few minutes on 2 CPU cores) and evaluates it on the bundled test set.

A config has five sections; every key is optional except data.train_file:
  data   train_file, valid_file | valid_fraction, test_file, isolated_atoms_file (else E0s are
         fitted), keys (field -> key in the data files, e.g. {energy: REF_energy}; the
         isolated-atoms file keeps the standard energy key unless it lacks one), cutoff (Å),
         batch_size, valid_batch_size, max_train. Paths may be bundled:NAME (acac_train,
         acac_test, acac_isolated_atoms, acac_hessians). allow_close_atoms: accept structures
         with overlapping atoms (refused by default, naming the frame and the pair).
  model  name (a registered architecture, e.g. tensornet) and options (its hyperparameters;
         elements, e0s, scale, shift and cutoff are filled in from the data when left out;
         with isolated-atom E0s shift_with_neighbours is on, so a lone atom predicts its E0)
  optim  optimizer adamw|amsgrad, lr, weight_decay, schedule plateau|cosine|constant,
         cosine_over epochs|time (time: the cosine spans run.max_minutes), warmup_epochs,
         plateau_factor, plateau_patience, min_lr, ema_decay (null: off), grad_clip (null: off),
         nonfinite_retries (a step with a NaN/inf loss or gradient is skipped, the epoch's start
         restored and the rate halved, this many times; then the run stops; default 3)
  loss   energy (per atom), forces, stress, dipole, hessian weights; kind mse|huber; huber_delta
  run    epochs, max_minutes, clock (wall|cpu: what max_minutes counts), seed, dtype
         float32|float64, device (auto|cpu|cuda), output_dir, name (default: a time stamp),
         checkpoint_every, progress, threads (CPU threads, per process), compile (compile the
         training step once; energy and force losses; the program is kept in
         $IRREPS_COMPILE_CACHE, default ~/.cache/irreps/compiled, and later runs of the same
         architecture load it), compile_backend (inductor|aot_eager|eager; aot_eager goes
         through torch.compile, eager runs the recorded step uncompiled, for checks), processes (data-parallel CPU
         processes sharing each batch on this machine; default 1)
Data files may also be directories written by `irreps data convert` (large datasets, read lazily).
Run `irreps train --print-config` to see every field with its default.

The run directory (run.output_dir/run.name, or --output) receives config.yaml, model.pt (the
EMA weights of the best validation epoch, loadable by `irreps evaluate` and the ASE
calculator), metrics.csv/json, learning_curve.png, valid/test metrics JSON and parity plots,
and checkpoints/last.pt and best.pt. A non-empty directory is never overwritten unless you
pass --overwrite; --resume continues a stopped run exactly. The directory is created only once
the data has loaded, and locked (RUN_DIR/.lock) while a run writes it: a second run into it is
refused with the first one's process id.

Data-parallel: start the same command under torchrun (torchrun --nproc-per-node 4 -m
irreps.cli.main train config.yaml) or srun; rank 0 logs and writes. data.batch_size and
data.valid_batch_size are global (shared out over the ranks); each rank draws its own dropout
masks from run.seed, its rank and the step. See docs/distributed.md.

Ctrl-C (SIGINT) or SIGTERM (a scheduler's wall-time limit) stops the run after the current
step: model.pt is written from the best finished epoch, the resume command is printed, and
the exit status is 130 (SIGINT) or 143 (SIGTERM). A second Ctrl-C interrupts at once.
"""

EPILOG = """\
examples:
  irreps train                                   # quickstart on the bundled data
  irreps train config.yaml --set optim.lr=5e-4 --set run.epochs=500
  irreps train config.yaml --set data.keys.energy=REF_energy --output runs/acac
  irreps train --resume runs/acac --set run.epochs=1000   # continue, with a longer budget
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train an interatomic potential from a YAML config",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("config", nargs="?", help="YAML config file (default: the shipped quickstart config)")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override one config value, e.g. optim.lr=1e-3 or model.options.hidden_dim=64 "
        "(value parsed as YAML; repeatable)",
    )
    parser.add_argument("--output", metavar="DIR", help="run directory (default: run.output_dir/run.name)")
    parser.add_argument(
        "--resume", metavar="RUN_DIR",
        help="continue the run in RUN_DIR from its later checkpoint (checkpoints/last.pt or best.pt) with its config.yaml (plus --set)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace the files of an earlier run in the run directory")
    parser.add_argument("--print-config", action="store_true", help="print the resolved config as YAML and exit")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from irreps.train.config import default_config_path, dump_config, load_config
    from irreps.train.metrics import format_table
    from irreps.train.run import train

    if args.resume and args.config:
        raise ValueError("--resume reads RUN_DIR/config.yaml: give either CONFIG or --resume, not both")
    if args.resume and args.output:
        raise ValueError("--resume RUN_DIR already names the run directory: drop --output")
    if args.resume:
        config = load_config(Path(args.resume) / "config.yaml", args.overrides)
    else:
        config = load_config(args.config or default_config_path(), args.overrides)
    if args.print_config:
        print(dump_config(config), end="")
        return 0
    try:
        result = train(config, run_dir=args.resume or args.output, resume=bool(args.resume), overwrite=args.overwrite)
    except FloatingPointError as err:  # a diverged run: report it like bad input, in one line
        raise ValueError(str(err)) from err
    if result.rank != 0:  # another process of a data-parallel run: rank 0 reports
        return 0 if result.stopped_by is None else _exit_status(result.stopped_by)
    if result.stopped_by is not None:
        return _report_stop(result)
    print(f"\nbest epoch {result.best_epoch} of {len(result.history)}; model written to {result.model_path}")
    print("\nvalidation errors (EMA weights of the best epoch):")
    print(format_table(result.valid_metrics))
    if result.test_metrics is not None:
        print(f"\ntest errors ({config.data.test_file}):")
        print(format_table(result.test_metrics))
    return 0


def _report_stop(result) -> int:
    """Say what a signal-stopped run saved and how to resume it; the exit status of the signal."""
    import sys

    if result.model_path is not None:
        saved = f"model written to {result.model_path} (best epoch {result.best_epoch} of {len(result.history)})"
    else:
        saved = "no epoch had finished, so there is no model.pt"
    print(f"irreps train: stopped by {result.stopped_by}; {saved}", file=sys.stderr)
    if result.checkpoint_epoch > 0:
        print(f"resume with: irreps train --resume {result.run_dir}   (continues after epoch {result.checkpoint_epoch})",
              file=sys.stderr)
    else:
        print(f"no checkpoint to resume from: start again with --overwrite --output {result.run_dir}", file=sys.stderr)
    return _exit_status(result.stopped_by)


def _exit_status(signal_name: str) -> int:
    from irreps.train.signals import exit_status

    return exit_status(signal_name)
