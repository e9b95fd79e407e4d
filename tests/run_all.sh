#!/usr/bin/env bash
# Run every suite (unit tests under ASan/UBSan, then the CLI suite) and end
# with one line "N passed, N failed" summing them all.
set -u
build=${1:-build-san}
passed=0
failed=0
status=0
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$(pwd)/tests/lsan.supp:print_suppressions=0}
for t in "$build"/tests/test_*; do
	[ -x "$t" ] || continue
	echo "== $(basename "$t")"
	out=$("$t" 2>&1)
	rc=$?
	echo "$out" | grep -E '^\[ *(RUN|OK|FAILED|PASSED|SKIPPED) *\]|ERROR|runtime error|Sanitizer' | grep -v '^\[ RUN' || true
	p=$(echo "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test(s)\./\1/p' | tail -1)
	f=$(echo "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test(s), listed below:/\1/p' | tail -1)
	p=${p:-0}
	f=${f:-0}
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "$out" | tail -30
		echo "$(basename "$t"): exited $rc (crash or sanitizer report)"
		f=1
	fi
	passed=$((passed + p))
	failed=$((failed + f))
done
echo "== cli"
out=$(TARN="$build/tarn" bash tests/cli/run.sh 2>&1)
rc=$?
echo "$out"
p=$(echo "$out" | sed -n 's/^cli: \([0-9]*\) passed, \([0-9]*\) failed$/\1/p' | tail -1)
f=$(echo "$out" | sed -n 's/^cli: \([0-9]*\) passed, \([0-9]*\) failed$/\2/p' | tail -1)
if [ -z "$p" ]; then
	p=0
	f=1
fi
passed=$((passed + p))
failed=$((failed + f))
[ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && failed=$((failed + 1))
echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
