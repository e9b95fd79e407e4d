#!/usr/bin/env bash
# Install the Debian packages one kind of work needs, only those missing;
# uses sudo when not root.
#
#     bash scripts/deps.sh [build|test|bench|kafka]...    (default: build)
#
# build  what builds and runs tarn (make, make demo, make install)
# test   build + what make test needs (cmocka, independent clients, a
#        browser, clang-format, curl)
# bench  build + what make bench needs (json-c for the parser comparison,
#        zstd and wrk for the baselines, kcat for the splitter's rate,
#        time for each side's peak RSS; bench/duckdb.sh fetches DuckDB,
#        the peer, from npm where node and npm are installed, and says it
#        skipped where they are not)
# kafka  test + a headless JRE and Maven, to fetch and run Apache Kafka
# test and kafka also put the test-only Python package vega_datasets
# (PyPI) in a venv, build/pyenv: its offline copy of NOAA's Seattle data
# is the real-world input of t_aggregate_real_data (which skips, counted,
# when PyPI could not be reached).
# README.md ("Dependencies") says why each package is there.
set -euo pipefail

build=(gcc make pkg-config libsqlite3-dev librdkafka-dev libzstd-dev uuid-dev
       libjansson-dev libyajl-dev libmicrohttpd-dev libgmp-dev)
test=(libcmocka-dev kcat sqlite3 python3 python3-venv chromium clang-format curl)
bench=(libjson-c-dev zstd wrk kcat time)
kafka=(default-jre-headless maven)

pkgs=("${build[@]}")
pyenv=0
[ $# -gt 0 ] || set -- build
for profile in "$@"; do
	case $profile in
	build) ;;
	test) pkgs+=("${test[@]}") pyenv=1 ;;
	bench) pkgs+=("${bench[@]}") ;;
	kafka) pkgs+=("${test[@]}" "${kafka[@]}") pyenv=1 ;;
	*)
		echo "deps.sh: unknown profile '$profile' (build, test, bench or kafka)" >&2
		exit 2
		;;
	esac
done

missing=()
for p in "${pkgs[@]}"; do
	case " ${missing[*]} " in *" $p "*) continue ;; esac
	dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "tarn deps ($*): installing ${missing[*]}"
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get update -qq
	$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# vega_datasets without its dependencies (pandas): the test reads the CSV
# files it ships, nothing else of it
venv=$(cd "$(dirname "$0")/.." && pwd)/build/pyenv
want=vega_datasets==0.9.0
if [ $pyenv = 1 ] && [ ! -f "$venv/.$want" ]; then
	if python3 -m venv "$venv" &&
		"$venv/bin/pip" install -q --disable-pip-version-check --no-deps "$want"; then
		touch "$venv/.$want"
	else
		echo "tarn deps: could not install $want from PyPI into $venv;" \
			"t_aggregate_real_data will skip" >&2
	fi
fi
