#!/usr/bin/env bash
# Train the baseline under several recipes on the GPU and print one line per run:
#   protocol split seed | --set options | AUROC accuracy train-seconds epochs
# usage: benchmarks/gpu_baseline_recipes.sh DATA_ROOT RESULTS_DIR < recipes.txt
# Each line of recipes.txt: PROTOCOL SPLIT SEED [KEY=VALUE ...]  (no options = the default recipe).
# DEVICE=cpu runs it on the CPU (the test suite does, on a digits line).
set -uo pipefail
data=$1 results=$2 device=${DEVICE:-cuda}
while read -r protocol split seed options; do
  [[ -z "$protocol" || "$protocol" == \#* ]] && continue
  # shellcheck disable=SC2086
  osrbench run --method mls --protocol "$protocol" --split "$split" --seed "$seed" --device "$device" --quiet \
    --data-root "$data" --results-dir "$results" ${options:+--set $options} > /dev/null 2> "$results/last-error.txt" \
    || { echo "$protocol $split $seed | ${options:-default} | FAILED: $(tail -1 "$results/last-error.txt")"; continue; }
  python3 - "$results" "$protocol" "$split" "$seed" "${options:-default}" <<'PY'
import json, sys
from pathlib import Path
results, protocol, split, seed, options = sys.argv[1:]
path = max(Path(results, protocol).glob(f"*/split{split}-seed{seed}.json"), key=lambda p: p.stat().st_mtime)
r = json.loads(path.read_text())
m = r["metrics"]
osr = m["osr"] if "osr" in m else next(iter(m.values()))["osr"]
print(f"{protocol} {split} {seed} | {options} | AUROC {osr['auroc']:.4f} acc {osr['accuracy']:.4f} "
      f"train {r['cost']['train_seconds']:.1f}s epochs {r['cost']['epochs']}", flush=True)
PY
done
