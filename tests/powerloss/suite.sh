#!/usr/bin/env bash
# The power-loss suite of make test (tests/run_all.sh): at least MIN crash
# states over the six workloads with nothing lost, doubled, mismatched or
# otherwise failed, and the mutant build (syncs skipped) must lose events
# in every workload. Last line "powerloss: N passed, N failed, 0 skipped".
set -u
cd "$(dirname "$0")/../.."
# 1,000 sanitized states take ~85 s of CPU (2026-12-07, the 2-core
# workplace machine; more wall time when it is shared)
MIN=${POWERLOSS_STATES:-1000}
MUTANT_STATES=${POWERLOSS_MUTANT_STATES:-120}
WORKLOADS="ingest gold-rebuild+compact aggregate-backfill prune replay-checkpoint kafka-offsets"
passed=0
failed=0
# $1: the figures line; prints "states lost doubled gold"
figures() {
	sed -n 's/^\([0-9]*\) crash states, [0-9]* acknowledged events checked, \([0-9]*\) lost, \([0-9]*\) doubled, \([0-9]*\) gold mismatches$/\1 \2 \3 \4/p' <<<"$1"
}
out=$(bash tests/powerloss/run.sh --states "$MIN" --seed "${POWERLOSS_SEED:-1}" 2>&1)
echo "$out" | tail -14
read -r n lost doubled gold <<<"$(figures "$(echo "$out" | tail -1)")"
other=$(sed -n 's/.*; other failures: \([0-9]*\)$/\1/p' <<<"$out")
if [ -n "${n:-}" ] && [ "$n" -ge "$MIN" ] && [ "$lost" -eq 0 ] && [ "$doubled" -eq 0 ] &&
	[ "$gold" -eq 0 ] && [ "${other:-1}" -eq 0 ]; then
	passed=$((passed + 1))
else
	echo "powerloss: FAILED: the lake lost, doubled, mismatched or failed otherwise (or ran fewer than $MIN states)"
	failed=$((failed + 1))
fi
# 20 states a run, so that every workload has its runs
out=$(bash tests/powerloss/run.sh --mutant --states "$MUTANT_STATES" --per-run 20 2>&1)
echo "$out" | grep -E '^([a-z+-]+ +other failures| +lost below)' | sed 's/^/mutant: /'
echo "mutant: $(echo "$out" | tail -1)"
ok=1
for w in $WORKLOADS; do
	l=$(sed -n "s/^$w *other failures [0-9]*; [0-9]* crash states, [0-9]* acknowledged events checked, \([0-9]*\) lost, \([0-9]*\) doubled.*/\1 \2/p" <<<"$out")
	read -r wl wd <<<"${l:-0 0}"
	if [ $((wl + wd)) -eq 0 ]; then
		echo "powerloss: FAILED: the mutant build (syncs skipped) lost nothing in $w: the harness cannot fail there"
		ok=
	fi
done
if [ -n "$ok" ]; then
	passed=$((passed + 1))
else
	failed=$((failed + 1))
fi
echo "powerloss: $passed passed, $failed failed, 0 skipped"
[ "$failed" -eq 0 ]
