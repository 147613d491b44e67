#!/usr/bin/env bash
# Proton-transfer transition state of acetylacetone with a trained model, through the CLI:
#   1. relax an enol minimum (a 300 K structure of the bundled acac test subset),
#   2. build the other enol form (mirror image, atoms relabelled) and relax it,
#   3. climbing-image NEB between the two,
#   4. P-RFO saddle search from the highest NEB image, with the barrier,
#   5. harmonic frequencies of the minimum (and the saddle's, printed by step 4).
#
#   bash examples/acac_ts.sh runs/<name>/model.pt [OUTDIR]
set -euo pipefail
MODEL=${1:?usage: bash examples/acac_ts.sh MODEL [OUTDIR]}
OUT=${2:-acac_ts}
HERE=$(cd "$(dirname "$0")" && pwd)
START=${ACAC_START:-$HERE/../src/irreps/datasets/acac_test_300K_subset.xyz}
if [ -e "$OUT" ]; then echo "$OUT exists: choose another OUTDIR" >&2; exit 2; fi
mkdir -p "$OUT"

irreps relax "$MODEL" "$START" --index 0 --fmax 0.001 --steps 3000 -o "$OUT/enol_a.extxyz" --quiet
python "$HERE/acac_mirror.py" "$OUT/enol_a.extxyz" "$OUT/enol_b_guess.extxyz"
irreps relax "$MODEL" "$OUT/enol_b_guess.extxyz" --fmax 0.001 --steps 3000 -o "$OUT/enol_b.extxyz" --quiet
irreps neb "$MODEL" "$OUT/enol_a.extxyz" "$OUT/enol_b.extxyz" --images 7 --fmax 0.02 --steps 1000 -o "$OUT/neb" --quiet
irreps ts "$MODEL" "$OUT/neb/highest.extxyz" --reactant "$OUT/enol_a.extxyz" --product "$OUT/enol_b.extxyz" \
    --fmax 0.001 -o "$OUT/ts" --quiet
irreps vib "$MODEL" "$OUT/enol_a.extxyz" -o "$OUT/vib_enol_a"
