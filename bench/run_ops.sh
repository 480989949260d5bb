#!/bin/sh
# CPU op speed against PyTorch on this machine, same thread count, same run (DESIGN.md §6).
# Builds nothing: build bench_ops first (meson setup build && ninja -C build bench_ops).
#   bench/run_ops.sh [BUILD_DIR]        (default: build; THREADS=n overrides nproc)
#   BENCH_CLOCK=cpu THREADS=1 bench/run_ops.sh   CPU time instead of wall time, for a shared machine
#   ONLY=rows bench/run_ops.sh                   only the row ops (softmax, cross-entropy, layer norm)
# Prints a Markdown table: op, shape, taugrad ms, torch ms, ratio = torch_ms / taugrad_ms
# (> 1 means taugrad is faster).
set -eu
cd "$(dirname "$0")/.."
build=${1:-build}
threads=${THREADS:-$(nproc)}
bench="$build/bench_ops"
[ -x "$bench" ] || { echo "run_ops.sh: $bench not found; build it: ninja -C $build bench_ops" >&2; exit 1; }
[ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import torch' 2>/dev/null ||
  { echo "run_ops.sh: /usr/bin/python3 has no torch; apt-get install python3-torch" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export OMP_NUM_THREADS="$threads"
"$bench" ${ONLY:-} > "$tmp/taugrad.jsonl"
/usr/bin/python3 bench/bench_torch.py ${ONLY:-} > "$tmp/torch.jsonl"

/usr/bin/python3 - "$tmp/taugrad.jsonl" "$tmp/torch.jsonl" "$threads" "${BENCH_CLOCK:-wall}" <<'EOF'
import json, sys

def load(path):
    return {(r["op"], r["shape"]): r["ms"] for r in map(json.loads, open(path))}

ours, torch = load(sys.argv[1]), load(sys.argv[2])
print(f"Threads: {sys.argv[3]}, clock: {sys.argv[4]}. ratio = torch ms / taugrad ms (> 1: taugrad is faster).\n")
print("| op | shape | taugrad ms | torch ms | ratio |")
print("|---|---|---:|---:|---:|")
def fmt(ms):
    return "n/a" if ms is None else f"{ms:.2f}" if ms >= 1 else f"{ms:.4f}"

for key, ms in ours.items():
    t = torch.get(key)
    ratio = f"{t / ms:.2f}" if t is not None else "n/a"
    print(f"| {key[0]} | {key[1]} | {fmt(ms)} | {fmt(t)} | {ratio} |")
EOF
