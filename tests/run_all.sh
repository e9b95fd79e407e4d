#!/usr/bin/env bash
# Run every suite (unit tests under ASan/UBSan, the CLI suite, the
# documentation check, the format check) and end with one line
# "N passed, N failed, N skipped" summing them all. A test that cannot run
# where it is (no terminal, no tmpfs) counts as skipped, with its reason on
# its own line; only a real failure fails the run.
set -u
build=${1:-build-san}
passed=0
failed=0
skipped=0
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$(pwd)/tests/lsan.supp:print_suppressions=0}
# one binary per tests/unit/test_*.c: a missing one is a failure, not a skip
for src in tests/unit/test_*.c; do
	t=$build/tests/$(basename "$src" .c)
	echo "== $(basename "$t")"
	if [ ! -x "$t" ]; then
		echo "$(basename "$t"): not built ($t missing)"
		failed=$((failed + 1))
		continue
	fi
	out=$("$t" 2>&1)
	rc=$?
	echo "$out" | grep -E '^\[ *(RUN|OK|FAILED|PASSED|SKIPPED) *\]|ERROR|runtime error|Sanitizer' | grep -v '^\[ RUN' || true
	p=$(echo "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test(s)\./\1/p' | tail -1)
	f=$(echo "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test(s), listed below:/\1/p' | tail -1)
	s=$(echo "$out" | sed -n 's/^\[  SKIPPED \] \([0-9]*\) test(s), listed below:/\1/p' | tail -1)
	p=${p:-0}
	f=${f:-0}
	s=${s:-0}
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "$out" | tail -30
		echo "$(basename "$t"): exited $rc (crash or sanitizer report)"
		f=1
	fi
	passed=$((passed + p))
	failed=$((failed + f))
	skipped=$((skipped + s))
done

# A script suite that ends "NAME: N passed, N failed, N skipped".
suite() { # $1: name, rest: the command
	local name=$1 out rc p f s
	shift
	echo "== $name"
	out=$("$@" 2>&1)
	rc=$?
	echo "$out"
	p=$(echo "$out" | sed -n "s/^$name: \([0-9]*\) passed, \([0-9]*\) failed, \([0-9]*\) skipped\$/\1/p" | tail -1)
	f=$(echo "$out" | sed -n "s/^$name: \([0-9]*\) passed, \([0-9]*\) failed, \([0-9]*\) skipped\$/\2/p" | tail -1)
	s=$(echo "$out" | sed -n "s/^$name: \([0-9]*\) passed, \([0-9]*\) failed, \([0-9]*\) skipped\$/\3/p" | tail -1)
	if [ -z "$p" ]; then
		p=0
		f=1
		s=0
	fi
	[ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && f=1
	passed=$((passed + p))
	failed=$((failed + f))
	skipped=$((skipped + s))
}
suite cli env TARN="$build/tarn" bash tests/cli/run.sh
suite docs env TARN="$build/tarn" bash tests/docs/check.sh
suite powerloss env BUILD="$build" bash tests/powerloss/suite.sh

echo "== format"
if make --no-print-directory format-check; then
	passed=$((passed + 1))
else
	failed=$((failed + 1))
fi
echo
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
