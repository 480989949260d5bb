#!/usr/bin/env bash
# Training throughput, taugrad against PyTorch on this machine, same model, batch and threads.
#   bench/run_train.sh [model] [batch] [channels] [size] [steps]   (default: resnet20 128 1 28 20)
# Needs ./build (scripts/build) and /usr/bin/python3 with torch. Prints both JSON lines and the ratio
# taugrad images/s / torch images/s (> 1: taugrad is faster).
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(nproc)}
args=("${@:-resnet20}" )
[ $# -eq 0 ] && args=(resnet20 128 1 28 20)
ours=$(./build/bench_train "${args[@]}")
theirs=$(/usr/bin/python3 bench/bench_train.py "${args[@]}")
echo "$ours"
echo "$theirs"
/usr/bin/python3 - "$ours" "$theirs" <<'PY'
import json, sys
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"ratio (taugrad / torch images per second): {a['images_per_s'] / b['images_per_s']:.2f} "
      f"with {__import__('os').environ['OMP_NUM_THREADS']} threads")
PY
