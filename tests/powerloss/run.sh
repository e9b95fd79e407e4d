#!/usr/bin/env bash
# Power loss: build the crash-state harness (tests/powerloss/harness.c)
# and run it. Ends with one line:
#   N crash states, N acknowledged events checked, N lost, N doubled, N gold mismatches
#   run.sh [--states N] [--seed S] [--per-run N] [--only WORKLOAD] [--mutant]
# Before it: one line per workload (with its "other failures": a state
# tarn could not open, replay refused, a pruned event back, ...) and the
# verify problems per file kind before and after a writer opened a state.
# --mutant runs on a build of tarn with synchronous=OFF and no folder
# fsyncs (TARN_TEST_MUTANT_NO_SYNC): it must report losses.
# BUILD picks the build tree (default build-san, under ASan/UBSan as make
# test); for another tree CFLAGS gives its flags (default -O2). The long
# run uses an optimised build:
#   BUILD=build-long CFLAGS=-O2 tests/powerloss/run.sh --states 100000
# The states are written under $POWERLOSS_TMP (default /dev/shm when it
# is writable, else /tmp) and removed at the end.
set -u
cd "$(dirname "$0")/../.."
states=1000
seed=1
mutant=
extra=()
while [ $# -gt 0 ]; do
	case $1 in
	--states) states=$2; shift 2 ;;
	--seed) seed=$2; shift 2 ;;
	--per-run | --only) extra+=("$1" "$2"); shift 2 ;;
	--mutant) mutant=1; shift ;;
	*) echo "usage: run.sh [--states N] [--seed S] [--per-run N] [--only WORKLOAD] [--mutant]" >&2; exit 2 ;;
	esac
done
SAN="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined"
if [ -n "$mutant" ]; then
	build=build-mutant
	flags="-O1 -g -DTARN_TEST_MUTANT_NO_SYNC" # no sanitizers: it only has to lose
else
	build=${BUILD:-build-san}
	flags=$SAN
	[ "$build" = build-san ] || flags=${CFLAGS:--O2}
fi
make --no-print-directory -s BUILD="$build" CFLAGS="$flags" "$build/powerloss/harness" >&2 ||
	{ echo "powerloss: build failed" >&2; exit 2; }
tmp=${POWERLOSS_TMP:-/dev/shm}
[ -d "$tmp" ] && [ -w "$tmp" ] || tmp=/tmp
work=$(mktemp -d "$tmp/tarn-powerloss-XXXXXX") || exit 2
trap 'rm -rf "$work"' EXIT
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$(pwd)/tests/lsan.supp:print_suppressions=0}
"$build/powerloss/harness" --states "$states" --seed "$seed" --work "$work" "${extra[@]}"
