#!/usr/bin/env bash
# Bounded load test of `tarn serve` on loopback with wrk (run by make bench):
# a lake of EVENTS events, then for each path DURATION seconds of wrk with
# CONNS connections on 2 threads. Prints requests/s, p50 and p99 latency and
# errors per path; exits 1 if any request failed or was not 2xx.
# usage: bench/serve_load.sh TARN DIR [EVENTS] [DURATION] [CONNS]
set -u
TARN=$1
DIR=$2
EVENTS=${3:-100000}
DURATION=${4:-5}
CONNS=${5:-16}
command -v wrk >/dev/null || { echo "serve_load: no wrk (scripts/deps.sh installs it)"; exit 1; }
rm -rf "$DIR" && mkdir -p "$DIR"
"$TARN" produce -o "$DIR/in.jsonl" --count "$EVENTS" --days 3 --seed 5 --dup-rate 0.02 2>/dev/null || exit 1
"$TARN" ingest --lake "$DIR/lake" "$DIR/in.jsonl" 2>/dev/null || exit 1
"$TARN" serve --lake "$DIR/lake" --listen 127.0.0.1:0 --max-seconds 600 >"$DIR/serve.out" 2>"$DIR/serve.err" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null' EXIT
for _ in $(seq 50); do
	url=$(head -1 "$DIR/serve.out" 2>/dev/null)
	[ -n "$url" ] && break
	sleep 0.1
done
[ -n "$url" ] || { echo "serve_load: tarn serve did not start"; exit 1; }
bad=0
echo
echo "tarn serve under wrk: $EVENTS events, 127.0.0.1, -t2 -c$CONNS -d${DURATION}s, $(nproc) cores"
printf '| %-32s | %10s | %9s | %9s | %8s |\n' path "requests/s" "p50" "p99" errors
printf '|%s|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..34})" "-----------:" "----------:" "----------:" "---------:"
for path in /api/daily_active_users /metrics /api/health /api/events_per_minute /; do
	out=$(wrk -t2 -c"$CONNS" -d"${DURATION}s" --timeout 10s --latency "${url%/}$path" 2>&1)
	rps=$(echo "$out" | awk '/^Requests\/sec:/ { print $2 }')
	p50=$(echo "$out" | awk '$1 == "50%" { print $2 }')
	p99=$(echo "$out" | awk '$1 == "99%" { print $2 }')
	non2xx=$(echo "$out" | awk '/Non-2xx or 3xx responses:/ { print $NF }')
	sock=$(echo "$out" | awk '/Socket errors:/ { gsub(",", ""); print $4 + $6 + $8 + $10 }')
	errs=$(( ${non2xx:-0} + ${sock:-0} ))
	[ -n "$rps" ] || { echo "$out"; errs=1; }
	[ "$errs" = 0 ] || bad=1
	printf '| %-32s | %10s | %9s | %9s | %8s |\n' "$path" "${rps:-?}" "${p50:-?}" "${p99:-?}" "$errs"
done
kill "$pid"
wait "$pid" 2>/dev/null
trap - EXIT
tail -1 "$DIR/serve.err"
[ $bad = 0 ] || { echo "serve_load: some requests failed"; exit 1; }
