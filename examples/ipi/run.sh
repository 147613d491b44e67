#!/usr/bin/env bash
# Path-integral MD of acetylacetone in i-PI with a trained irreps model as the force client:
#
#   pip install 'irreps[ipi]'
#   bash examples/ipi/run.sh runs/acac/model.pt [OUTDIR]
#
# writes OUTDIR/init.extxyz (the first structure of the bundled acac test subset in a 30 Å box,
# open boundaries), copies input.xml there, starts i-PI and `irreps ipi-client` on the UNIX
# socket named in input.xml, and waits for both. i-PI writes OUTDIR/acac.out (energies,
# temperature, the centroid-virial kinetic energy), acac.pos_*.xyz (one file per bead, every 50 steps).
# IPI_STEPS=N overrides input.xml's <total_steps>.
set -euo pipefail
MODEL=$(realpath "${1:?usage: bash examples/ipi/run.sh MODEL [OUTDIR]}")
OUT=${2:-ipi_acac}
HERE=$(cd "$(dirname "$0")" && pwd)
if [ -e "$OUT" ]; then echo "$OUT exists: choose another OUTDIR" >&2; exit 2; fi
# i-PI itself names a UNIX socket `ipi_<address>` in the system's temporary directory (fixed by
# i-PI, not by this script); a stale one from a crashed run blocks the next start.
SOCKET=/tmp/ipi_irreps-acac
if [ -e "$SOCKET" ]; then
    echo "$SOCKET exists: another run uses it, or a crashed i-PI left it (then remove it)" >&2; exit 2
fi
mkdir -p "$OUT"
sed "s|<total_steps> [0-9]* </total_steps>|<total_steps> ${IPI_STEPS:-400} </total_steps>|" "$HERE/input.xml" > "$OUT/input.xml"
cd "$OUT"
python -c "
import ase.io
from irreps.data.bundled import bundled_path
atoms = ase.io.read(bundled_path('acac_test'), index=0)
atoms.cell, atoms.pbc = [30.0, 30.0, 30.0], False
ase.io.write('init.extxyz', atoms)
"
i-pi input.xml > ipi.log 2>&1 &
IPI=$!
irreps ipi-client "$MODEL" init.extxyz --unix irreps-acac --threads 1
wait "$IPI"
tail -n 3 acac.out
