#!/usr/bin/env bash
# The power-loss suite of make test (tests/run_all.sh): at least MIN crash
# states with nothing lost, doubled or mismatched, and the mutant build
# (syncs skipped) must lose events. Last line "powerloss: N passed, N failed, 0 skipped".
set -u
cd "$(dirname "$0")/../.."
# 700 sanitized states take ~80 s on the 2-core workplace machine (1,000
# take ~115 s; unsanitized, 1,000 take 67 s): make test runs 700
MIN=${POWERLOSS_STATES:-700}
MUTANT_STATES=${POWERLOSS_MUTANT_STATES:-100}
passed=0
failed=0
# $1: the figures line; prints "states lost doubled gold"
figures() {
	sed -n 's/^\([0-9]*\) crash states, [0-9]* acknowledged events checked, \([0-9]*\) lost, \([0-9]*\) doubled, \([0-9]*\) gold mismatches$/\1 \2 \3 \4/p' <<<"$1"
}
out=$(bash tests/powerloss/run.sh --states "$MIN" --seed "${POWERLOSS_SEED:-1}" 2>&1)
echo "$out" | tail -5
read -r n lost doubled gold <<<"$(figures "$(echo "$out" | tail -1)")"
if [ -n "${n:-}" ] && [ "$n" -ge "$MIN" ] && [ "$lost" -eq 0 ] && [ "$doubled" -eq 0 ] && [ "$gold" -eq 0 ]; then
	passed=$((passed + 1))
else
	echo "powerloss: FAILED: the lake lost, doubled or mismatched (or ran fewer than $MIN states)"
	failed=$((failed + 1))
fi
out=$(bash tests/powerloss/run.sh --mutant --states "$MUTANT_STATES" 2>&1)
echo "mutant: $(echo "$out" | tail -1)"
read -r n lost doubled gold <<<"$(figures "$(echo "$out" | tail -1)")"
if [ -n "${n:-}" ] && [ "$lost" -gt 0 ]; then
	passed=$((passed + 1))
else
	echo "powerloss: FAILED: the mutant build (syncs skipped) lost nothing: the harness cannot fail"
	failed=$((failed + 1))
fi
echo "powerloss: $passed passed, $failed failed, 0 skipped"
[ "$failed" -eq 0 ]
