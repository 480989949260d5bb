#!/bin/sh
# ResNet-20's convolutions (batch 128, 1x28x28 inputs) on the CPU: taugrad's oneDNN path with
# oneDNN's blocked layouts and on NCHW, its im2col + Eigen path, and PyTorch, in one run, same threads.
# Builds nothing: build bench_ops first (ninja -C build bench_ops).
#   bench/run_conv.sh [BUILD_DIR]        (default: build; THREADS=n overrides nproc)
#   BENCH_CLOCK=cpu THREADS=1 bench/run_conv.sh   process CPU time, for a shared machine
# Prints a Markdown table of milliseconds and ratio = torch ms / taugrad oneDNN ms (> 1: taugrad is faster).
set -eu
cd "$(dirname "$0")/.."
build=${1:-build}
threads=${THREADS:-$(nproc)}
bench="$build/bench_ops"
[ -x "$bench" ] || { echo "run_conv.sh: $bench not found; build it: ninja -C $build bench_ops" >&2; exit 1; }
[ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import torch' 2>/dev/null ||
  { echo "run_conv.sh: /usr/bin/python3 has no torch; apt-get install python3-torch" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export OMP_NUM_THREADS="$threads"
"$bench" conv28 > "$tmp/taugrad.jsonl"
/usr/bin/python3 bench/bench_torch.py conv28 > "$tmp/torch.jsonl"

/usr/bin/python3 - "$tmp/taugrad.jsonl" "$tmp/torch.jsonl" "$threads" "${BENCH_CLOCK:-wall}" <<'PY'
import json, sys

ms = {}
for path, default in ((sys.argv[1], None), (sys.argv[2], "torch")):
    for r in map(json.loads, open(path)):
        ms[(r["op"], r["shape"], r.get("impl", default))] = r["ms"]
impls = ["onednn", "onednn_nchw", "im2col", "torch"]
print(f"Threads: {sys.argv[3]}, clock: {sys.argv[4]}. ms; ratio = torch / taugrad oneDNN (> 1: taugrad is faster).\n")
print("| op | shape | oneDNN | oneDNN NCHW | im2col | torch | ratio |")
print("|---|---|---:|---:|---:|---:|---:|")
for op, shape in dict.fromkeys((k[0], k[1]) for k in ms):
    row = [ms.get((op, shape, i)) for i in impls]
    cells = ["n/a" if v is None else f"{v:.2f}" for v in row]
    ratio = f"{row[3] / row[0]:.2f}" if row[0] and row[3] else "n/a"
    print(f"| {op} | {shape} | " + " | ".join(cells) + f" | {ratio} |")
PY
