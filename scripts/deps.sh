#!/usr/bin/env bash
# Install the Debian packages tarn needs to build, test and run its demo,
# only those missing; uses sudo when not root.
set -euo pipefail
pkgs=(gcc make pkg-config libsqlite3-dev librdkafka-dev libzstd-dev uuid-dev
      libjansson-dev libjson-c-dev libyajl-dev libcmocka-dev kcat sqlite3 zstd python3
      libmicrohttpd-dev chromium wrk)
missing=()
for p in "${pkgs[@]}"; do
	dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "tarn deps: installing ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
