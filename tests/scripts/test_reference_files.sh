#!/usr/bin/env bash
# Checks scripts/test's handling of the tier-3 reference files, in a scratch tree where the build,
# the test binary and the reference scripts are stubs (a second, no real build or PyTorch run):
# files are written when missing, rewritten when their script or tools/safetensors_io.py is newer,
# not otherwise, and a failing script fails scripts/test with its message. Needs /usr/bin/python3
# with torch (scripts/test only writes reference files where PyTorch is installed); skips otherwise.
# Run: tests/scripts/test_reference_files.sh (.ci/run does).
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
if ! /usr/bin/python3 -c "import torch" 2>/dev/null; then
  echo "test_reference_files: skipped, PyTorch is not installed"
  exit 0
fi
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
mkdir -p "$t/scripts" "$t/tools"
cp "$repo/scripts/test" "$t/scripts/test"
printf '#!/bin/sh\n' >"$t/scripts/install-deps"
cat >"$t/scripts/build" <<'STUB'
#!/bin/sh
mkdir -p build
printf '#!/bin/sh\necho "refs: ${TAUGRAD_REFERENCE:-unset} ${TAUGRAD_APGD_REFERENCE:-unset}"\necho "[doctest] test cases: 3 | 3 passed | 0 failed | 0 skipped"\n' >build/taugrad_tests
chmod +x build/taugrad_tests
STUB
chmod +x "$t/scripts/install-deps" "$t/scripts/build"
writer='import sys; open(sys.argv[1], "w").write("ref")'
echo "$writer" >"$t/tools/make_reference.py"
echo "$writer" >"$t/tools/apgd_reference.py"
echo "" >"$t/tools/safetensors_io.py"
cd "$t"

fail() { echo "test_reference_files: FAILED: $*" >&2; exit 1; }
run() { scripts/test >out.txt 2>&1; }
writes() { grep -c "writing the tier-3 reference file" out.txt || true; }

run || fail "scripts/test failed with working reference scripts: $(cat out.txt)"
[ "$(writes)" = 2 ] || fail "expected both files written on the first run"
grep -q "refs: $t/build/reference.safetensors $t/build/apgd_reference.safetensors" out.txt ||
  fail "the test binary did not get both reference paths"
grep -q "^taugrad: 3 passed, 0 failed, 0 skipped$" out.txt || fail "no summary line"

run || fail "second run failed"
[ "$(writes)" = 0 ] || fail "files rewritten although nothing changed"

sleep 1.1 && touch tools/safetensors_io.py
run || fail "run after touching safetensors_io.py failed"
[ "$(writes)" = 2 ] || fail "files not rewritten after tools/safetensors_io.py changed"

sleep 1.1 && echo 'raise SystemExit("make_reference: no such layer")' >tools/make_reference.py
if run; then fail "scripts/test passed although tools/make_reference.py failed"; fi
grep -q "make_reference: no such layer" out.txt || fail "the script's error was not shown"
grep -q "FAILED: tools/make_reference.py" out.txt || fail "no clear failure message"
echo "test_reference_files: ok"
