#!/usr/bin/env bash
# The workloads of issue 12, taugrad against two PyTorch anchors on this machine, same model, same
# initial weights and batch (bench_step --init-file), same threads:
#   torch 1.13   Debian's python3-torch (/usr/bin/python3)
#   torch 2.x    the current PyTorch from the package index (bench/setup-venv; skipped with a message
#                when the venv is absent)
# Usage: bench/run_workloads.sh [workload ...]     (default: all four, in the order below)
#   THREADS="1 2"  thread counts    BUILD=build  taugrad's build folder    VENV=~/.cache/taugrad/torch-venv
# Prints every JSON line, then a table of images per CPU-second of the process (robust to a shared
# machine; with 2 threads it counts both threads' time) and images per wall-clock second, and the
# ratios taugrad / torch (> 1: taugrad is faster). loss0 (the untrained model's loss on the batch)
# must agree between the three: otherwise the models differ and the script says so.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD:-build}
venv=${VENV:-$HOME/.cache/taugrad/torch-venv}
threads=${THREADS:-1 2}
# name: bench_step arguments (workload, model, batch, channels, size, steps, warmup)
declare -A workloads=(
  [resnet20_train]="--workload train --model resnet20 --batch 128 --channels 1 --size 28 --steps 5 --warmup 2"
  [vit_ti4_train]="--workload train --model vit_tiny_patch4_32 --batch 64 --channels 3 --size 32 --steps 2 --warmup 1"
  [resnet20_pgd20]="--workload pgd20 --model resnet20 --batch 256 --channels 1 --size 28 --steps 1 --warmup 0"
  [resnet50_train]="--workload train --model resnet50_cifar --batch 32 --channels 3 --size 32 --steps 2 --warmup 1"
)
names=("$@")
[ $# -eq 0 ] && names=(resnet20_train vit_ti4_train resnet20_pgd20 resnet50_train)
[ -x "$build/bench_step" ] || { echo "run_workloads: $build/bench_step is missing: ninja -C $build bench_step" >&2; exit 2; }
anchors=(/usr/bin/python3)
if [ -x "$venv/bin/python" ]; then
  anchors+=("$venv/bin/python")
else
  echo "run_workloads: no current PyTorch in $venv (bench/setup-venv installs it): measuring torch 1.13 only" >&2
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "# $(date -u '+%F %T') UTC, $(nproc) cores, load:$(uptime | sed 's/.*load average://')"
for name in "${names[@]}"; do
  [ -n "${workloads[$name]:-}" ] || { echo "run_workloads: unknown workload '$name' (known: ${!workloads[*]})" >&2; exit 2; }
  for t in $threads; do
    # shellcheck disable=SC2086
    OMP_NUM_THREADS=$t "$build/bench_step" ${workloads[$name]} --init-file "$work/init.safetensors" |
      sed "s/^{/{\"name\": \"$name\", \"threads\": $t, /" | tee -a "$work/results.jsonl"
    for python in "${anchors[@]}"; do
      # shellcheck disable=SC2086
      OMP_NUM_THREADS=$t "$python" bench/bench_step.py ${workloads[$name]} --init-file "$work/init.safetensors" |
        sed "s/^{/{\"name\": \"$name\", /" | tee -a "$work/results.jsonl"
    done
  done
done
echo "# load after:$(uptime | sed 's/.*load average://')"
/usr/bin/python3 - "$work/results.jsonl" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
anchors = sorted({r["torch"] for r in rows if r["framework"] == "torch"})
head = "| workload | threads | taugrad img/s cpu (wall) |"
for v in anchors:
    head += f" torch {v} img/s cpu (wall) | ratio cpu (wall) |"
print(head)
print("|---|---:|---:|" + "---:|---:|" * len(anchors))
for ours in (r for r in rows if r["framework"] == "taugrad"):
    line = f"| {ours['name']} | {ours['threads']} | {ours['images_per_cpu_s']:.1f} ({ours['images_per_s']:.1f}) |"
    for v in anchors:
        theirs = [r for r in rows if r.get("torch") == v and r["name"] == ours["name"] and r["threads"] == ours["threads"]]
        if not theirs:
            line += " - | - |"
            continue
        t = theirs[0]
        line += (f" {t['images_per_cpu_s']:.1f} ({t['images_per_s']:.1f}) |"
                 f" {ours['images_per_cpu_s'] / t['images_per_cpu_s']:.2f} ({ours['images_per_s'] / t['images_per_s']:.2f}) |")
        if abs(t["loss0"] - ours["loss0"]) > 1e-3 * max(1.0, abs(ours["loss0"])):
            print(f"run_workloads: {ours['name']}: loss0 differs (taugrad {ours['loss0']}, torch {v} {t['loss0']}):"
                  " the two models are not the same", file=sys.stderr)
    print(line)
PY
