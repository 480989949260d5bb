#!/usr/bin/env bash
# Checks scripts/gpu-check and tools/gpu_report.py end to end in a scratch tree with stub programs (a
# few seconds, no build, no GPU, no PyTorch): the report names the failed tier-2 case, the
# model-level comparison lines and every compared tensor's error (worst first), sets taugrad's images/s beside PyTorch's with the ratio and peak
# memory, gives the curves' largest difference, marks a step killed at its limit as timed out and the
# steps past the budget as not run, --export copies report.md, report.json and logs.tar.gz, and the
# script's exit status is 1 when something failed. Run: tests/scripts/test_gpu_check.sh (.ci/run does).
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
mkdir -p "$t/scripts" "$t/tools" "$t/build"
cp "$repo/scripts/gpu-check" "$t/scripts/"
cp "$repo/tools/gpu_report.py" "$t/tools/"
cat > "$t/build/taugrad_tests" <<'STUB'
#!/usr/bin/env bash
if [[ " $* " == *" --list-test-cases "* ]]; then printf 'cuda: models: ResNet-50\ncuda vs cpu: fill and cast\n'; exit 0; fi
printf 'resnet50_cifar train, TF32 off\tgrad fc.weight\t3.10e-07\t4.05e-04\tok\nresnet50_cifar train, TF32 off\tlogits\t9.00e-04\t4.05e-04\tFAILED\n' >> "$TG_TIER2_ERRORS"
cat <<'OUT'
===============================================================================
tests/cuda/test_cuda_models.cpp:10:
TEST CASE:  cuda: models: ResNet-50 (CIFAR stem) on the device against the CPU

tests/support/tier2.h:162: MESSAGE: tier2 resnet50_cifar train, TF32 off: 164 tensors, worst grad fc.weight 3.10e-07 (tolerance 4.05e-04), 0 failed

===============================================================================
tests/cuda/test_cuda_models.cpp:20:
TEST CASE:  cuda: models: broken

tests/cuda/test_cuda_models.cpp:21: ERROR: CHECK( agreement.ok() ) is NOT correct!

0.500000 s: cuda: models: ResNet-50 (CIFAR stem) on the device against the CPU
2.000000 s: cuda: models: broken
===============================================================================
[doctest] test cases: 2 | 1 passed | 1 failed | 0 skipped
OUT
exit 1
STUB
cat > "$t/build/bench_step" <<'STUB'
#!/usr/bin/env bash
args=" $* "
[[ $args == *" --versions "* ]] && { echo '{"cuda": false}'; exit 0; }
get() { local key=$1; shift; while [ $# -gt 0 ]; do [ "$1" = "$key" ] && { echo "$2"; return; }; shift; done; }
if [[ $args == *" --workload curve "* ]]; then
  [ "$(get --device "$@")" = cpu ] && [ -n "${SLOW_CPU_CURVE:-}" ] && sleep 60
  echo '{"losses": [2.0, 1.5, 1.0]}'
  exit 0
fi
ips=100.0; [ "$(get --precision "$@")" = bf16 ] && ips=300.0  # taugrad bf16 beside torch AMP bf16 (200)
echo "{\"framework\": \"taugrad\", \"precision\": \"$(get --precision "$@")\", \"workload\": \"$(get --workload "$@")\", \"model\": \"$(get --model "$@")\", \"batch\": $(get --batch "$@"), \"images_per_s\": $ips, \"device_bytes_in_use\": 1048576}"
STUB
# A Python with "PyTorch": the check for torch, the versions, the NVIDIA library folders, the twin benchmark.
cat > "$t/python" <<'STUB'
#!/usr/bin/env bash
if [ "$1" = -c ]; then
  case "$2" in
    "import torch") exit 0 ;;
    *nvidia*) exit 1 ;;
    *) echo "{'torch': 'stub'}"; exit 0 ;;
  esac
fi
get() { local key=$1; shift; while [ $# -gt 0 ]; do [ "$1" = "$key" ] && { echo "$2"; return; }; shift; done; }
p=$(get --precision "$@")
ips=50.0; [ "$p" = bf16 ] && ips=200.0
echo "{\"framework\": \"torch\", \"precision\": \"$p\", \"workload\": \"$(get --workload "$@")\", \"model\": \"$(get --model "$@")\", \"batch\": $(get --batch "$@"), \"images_per_s\": $ips, \"peak_bytes\": 2097152}"
STUB
chmod +x "$t/build/taugrad_tests" "$t/build/bench_step" "$t/python"
cd "$t"

fail() { echo "test_gpu_check: FAILED: $*" >&2; exit 1; }
field() { python3 -c "import json, sys; r = json.load(open(sys.argv[1])); print($2)" "$1"; }

# 1. Everything runs; one tier-2 case fails.
rc=0
scripts/gpu-check --dry-run --python ./python --out out1 --export export1 > log1 2>&1 || rc=$?
[ $rc = 1 ] || fail "exit status $rc, not 1 (a tier-2 case failed): $(cat log1)"
[ "$(ls export1 | tr '\n' ' ')" = "logs.tar.gz report.json report.md " ] || fail "--export wrote: $(ls export1)"
r=export1/report.json
[ "$(field $r 'r["ok"]')" = False ] || fail "ok should be False"
[ "$(field $r '[s["status"] for s in r["steps"] if s["step"] == "tier2"]')" = "['FAILED']" ] || fail "tier2 not FAILED"
[ "$(field $r 'r["tier2"]["failed_cases"]')" = "['cuda: models: broken']" ] || fail "failed cases: $(field $r 'r["tier2"]["failed_cases"]')"
field $r 'r["tier2"]["comparisons"][0]' | grep -q 'worst grad fc.weight 3.10e-07' || fail "comparison line missing"
[ "$(field $r 'r["tier2"]["counts"]["failed"]')" = 1 ] || fail "counts"
[ "$(field $r '[(e["tensor"], e["ok"]) for e in r["tier2_errors"]["resnet50_cifar train, TF32 off"]]')" = "[('logits', False), ('grad fc.weight', True)]" ] ||
  fail "per-tensor errors, worst first: $(field $r 'r["tier2_errors"]')"
grep -q 'logits 9.00e-04 / 4.0e-04 FAILED' export1/report.md || fail "report.md lacks the worst tensor"
[ "$(field $r 'r["tier2"]["seconds"][0]["case"]')" = "cuda: models: broken" ] || fail "slowest case"
[ "$(field $r 'len(r["bench"])')" = 3 ] || fail "bench rows"
[ "$(field $r '[(b["ratio_vs_torch_fp32"], b["ratio_vs_torch_bf16"], b["torch_bf16_peak_bytes"], b["taugrad_device_bytes_in_use"]) for b in r["bench"]][0]')" = "(2.0, 1.5, 2097152, 1048576)" ] ||
  fail "bench row: $(field $r 'r["bench"][0]')"
[ "$(field $r 'r["curve"]["max_relative_difference"]')" = 0.0 ] || fail "curve"
grep -q 'cuda: models: broken' export1/report.md || fail "report.md lacks the failed case"
grep -q '| 2.00 |' export1/report.md || fail "report.md lacks the ratio"
tar tzf export1/logs.tar.gz | grep -q tier2.log || fail "logs.tar.gz lacks tier2.log"

# 2. A step killed at its limit is "timed out"; the steps past the budget are "not run", and the
# report is still written.
rc=0
SLOW_CPU_CURVE=1 scripts/gpu-check --dry-run --python ./python --out out2 --budget 6 > log2 2>&1 || rc=$?
[ $rc = 1 ] || fail "exit status $rc with a step timed out"
r=out2/report.json
statuses=$(field $r '" ".join(s["status"] for s in r["steps"] if s["step"].startswith("curve"))')
[ "$statuses" = "timed out not run" ] || fail "curve steps: '$statuses' (log: $(cat log2))"
[ "$(field $r 'r["curve"]["ok"]')" = False ] || fail "a missing curve passed"
echo "test_gpu_check: passed"
