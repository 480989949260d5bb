#!/bin/sh
# CPU op speed against PyTorch on this machine, same thread count, same run (DESIGN.md §6).
# Builds nothing: build bench_ops first (meson setup build && ninja -C build bench_ops).
#   bench/run_ops.sh [BUILD_DIR]        (default: build; THREADS=n overrides nproc)
#   BENCH_CLOCK=cpu THREADS=1 bench/run_ops.sh   CPU time instead of wall time, for a shared machine
#   ONLY=rows bench/run_ops.sh                   only the row ops (softmax, cross-entropy, layer norm)
#   bench/run_ops.sh conv28 [BUILD_DIR] ResNet-20's convolutions on 28x28 inputs, one column per
#                                       taugrad path (oneDNN blocked, oneDNN NCHW, im2col)
# Prints a Markdown table: op, shape, taugrad ms, torch ms, ratio = torch_ms / taugrad_ms
# (> 1 means taugrad is faster; with conv28, against the first taugrad column).
set -eu
cd "$(dirname "$0")/.."
set_name=""
[ "${1:-}" = conv28 ] && { set_name=conv28; shift; }
build=${1:-build}
threads=${THREADS:-$(nproc)}
bench="$build/bench_ops"
[ -x "$bench" ] || { echo "run_ops.sh: $bench not found; build it: ninja -C $build bench_ops" >&2; exit 1; }
[ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import torch' 2>/dev/null ||
  { echo "run_ops.sh: /usr/bin/python3 has no torch; apt-get install python3-torch" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export OMP_NUM_THREADS="$threads"
"$bench" ${set_name:-${ONLY:-}} > "$tmp/taugrad.jsonl"
/usr/bin/python3 bench/bench_torch.py ${set_name:-${ONLY:-}} > "$tmp/torch.jsonl"

/usr/bin/python3 - "$tmp/taugrad.jsonl" "$tmp/torch.jsonl" "$threads" "${BENCH_CLOCK:-wall}" <<'EOF'
import json, sys

def load(path, default):
    return {(r["op"], r["shape"], r.get("impl", default)): r["ms"] for r in map(json.loads, open(path))}

ms = {**load(sys.argv[1], "taugrad"), **load(sys.argv[2], "torch")}
impls = list(dict.fromkeys(k[2] for k in ms if k[2] != "torch"))  # taugrad's paths, in bench_ops' order
print(f"Threads: {sys.argv[3]}, clock: {sys.argv[4]}. ratio = torch ms / taugrad ms (> 1: taugrad is faster).\n")
names = {"taugrad": "taugrad ms", "onednn": "oneDNN ms", "onednn_nchw": "oneDNN NCHW ms", "im2col": "im2col ms"}
print("| op | shape | " + " | ".join(names.get(i, i) for i in impls) + " | torch ms | ratio |")
print("|---|---|" + "---:|" * (len(impls) + 2))
def fmt(ms):
    return "n/a" if ms is None else f"{ms:.2f}" if ms >= 1 else f"{ms:.4f}"

for op, shape in dict.fromkeys(k[:2] for k in ms if k[2] != "torch"):
    row = [ms.get((op, shape, i)) for i in impls]
    t = ms.get((op, shape, "torch"))
    ratio = f"{t / row[0]:.2f}" if t is not None else "n/a"
    print(f"| {op} | {shape} | " + " | ".join(fmt(v) for v in row) + f" | {fmt(t)} | {ratio} |")
EOF
