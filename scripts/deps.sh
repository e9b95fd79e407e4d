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
#        zstd and wrk for the baselines, kcat for the splitter's rate)
# kafka  test + a headless JRE and Maven, to fetch and run Apache Kafka
# README.md ("Dependencies") says why each package is there.
set -euo pipefail

build=(gcc make pkg-config libsqlite3-dev librdkafka-dev libzstd-dev uuid-dev
       libjansson-dev libyajl-dev libmicrohttpd-dev libgmp-dev)
test=(libcmocka-dev kcat sqlite3 python3 chromium clang-format curl)
bench=(libjson-c-dev zstd wrk kcat)
kafka=(default-jre-headless maven)

pkgs=("${build[@]}")
[ $# -gt 0 ] || set -- build
for profile in "$@"; do
	case $profile in
	build) ;;
	test) pkgs+=("${test[@]}") ;;
	bench) pkgs+=("${bench[@]}") ;;
	kafka) pkgs+=("${test[@]}" "${kafka[@]}") ;;
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
[ ${#missing[@]} -eq 0 ] && exit 0
echo "tarn deps ($*): installing ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
