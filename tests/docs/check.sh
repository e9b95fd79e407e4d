#!/usr/bin/env bash
# The documentation check (tests/docs/check.py): builds a small lake with
# every kind of file (shards, gold, quarantine, ids, checkpoints), starts
# `tarn serve` on it for its /api/ list, and checks README.md and
# docs/tarn.1 against the binary, the lake's schemas and that list.
# Ends "docs: N passed, N failed, 0 skipped".
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TARN=${TARN:-$ROOT/bin/tarn}
TARN=$(cd "$(dirname "$TARN")" && pwd)/$(basename "$TARN")
WORK=$(mktemp -d /tmp/tarn-docs-XXXXXX)
SERVE_PID=
cleanup() {
	[ -n "$SERVE_PID" ] && kill "$SERVE_PID" 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT
die() {
	echo "FAIL docs setup: $*"
	echo "docs: 0 passed, 1 failed, 0 skipped"
	exit 1
}
L=$WORK/lake
"$TARN" produce -o "$WORK/in.jsonl" --count 2000 --days 2 --seed 5 2>/dev/null || die "produce"
echo 'not json' >>"$WORK/in.jsonl"
"$TARN" ingest --lake "$L" "$WORK/in.jsonl" 2>/dev/null || die "ingest"
"$TARN" replay --lake "$L" -o /dev/null --checkpoint docs 2>/dev/null || die "replay --checkpoint"
# it stops by itself after 60 s whatever happens to this script
"$TARN" serve --lake "$L" --listen 127.0.0.1:0 --max-seconds 60 >"$WORK/serve.out" 2>/dev/null &
SERVE_PID=$!
for _ in $(seq 50); do
	URL=$(head -1 "$WORK/serve.out" 2>/dev/null)
	[ -n "$URL" ] && break
	sleep 0.1
done
[ -n "$URL" ] || die "tarn serve printed no address"
# The check must be able to fail: a copy of README.md with one name of each
# kind that does not exist fails every kind.
cp "$ROOT/README.md" "$WORK/bad.md"
printf '\n    tarn ingest --lake L --no-such-flag\n    tarn nosuchcommand --lake L\n\n%s\n' \
	'See `/api/no_such_path` and `tarn gold --lake L no_such_table`.' >>"$WORK/bad.md"
bad=$(python3 "$ROOT/tests/docs/check.py" "$TARN" "$L" "$URL" "$WORK/bad.md" "$ROOT/docs/tarn.1")
[ "$(echo "$bad" | tail -1)" = "docs: 0 passed, 4 failed, 0 skipped" ] ||
	die "the check passes a README with made-up names: $bad"
python3 "$ROOT/tests/docs/check.py" "$TARN" "$L" "$URL" "$ROOT/README.md" "$ROOT/docs/tarn.1"
