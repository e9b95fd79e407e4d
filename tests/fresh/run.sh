#!/usr/bin/env bash
# The newcomer test: on a pristine Debian 12 (bookworm) root made by
# debootstrap, in a clean clone of HEAD, run exactly what the first screen of
# README.md tells a newcomer to type, as root with a clean environment:
#
#     apt-get update && apt-get install -y make
#     make demo
#     make test
#
# and fail on the first non-zero exit. Each command must work the first time.
# Needs root (it re-runs itself with sudo), debootstrap (installed when
# missing) and Debian's mirror; takes minutes, so it is not part of make test.
#
#     bash tests/fresh/run.sh [WORKDIR]      # WORKDIR defaults to /tmp/tarn-fresh
#
# WORKDIR/bookworm-minbase.tar caches the pristine root so that later runs
# skip debootstrap (delete it to start over); every run unpacks it into a
# new WORKDIR/root. Logs of each command are in WORKDIR/logs.
# TARN_FRESH_MIRROR overrides the Debian mirror (default: the host's);
# TARN_FRESH_FIRST=test runs make test before make demo, to show that it too
# works as the first command. TARN_FRESH_PTS=0 gives the root no /dev/pts.
# When a command fails, each failed test is printed with its own lines.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
	exec sudo env ${TARN_FRESH_MIRROR:+TARN_FRESH_MIRROR="$TARN_FRESH_MIRROR"} \
		${TARN_FRESH_FIRST:+TARN_FRESH_FIRST="$TARN_FRESH_FIRST"} \
		${TARN_FRESH_PTS:+TARN_FRESH_PTS="$TARN_FRESH_PTS"} bash "$0" "$@"
fi

repo=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mkdir -p "${1:-/tmp/tarn-fresh}" && cd "${1:-/tmp/tarn-fresh}" && pwd)
root=$work/root
cache=$work/bookworm-minbase.tar
logs=$work/logs
start=$(date +%s)

case ${TARN_FRESH_FIRST:-demo} in
demo) order=(demo test) ;;
test) order=(test demo) ;;
*)
	echo "fresh: TARN_FRESH_FIRST is demo or test" >&2
	exit 2
	;;
esac

say() { echo "fresh: $*"; }
fail() {
	echo "fresh: FAILED: $*" >&2
	exit 1
}

# The README's first screen must still say what this script runs.
for c in 'apt-get update && apt-get install -y make' '    make demo' '    make test'; do
	sed -n '1,/^---$/p' "$repo/README.md" | grep -qF -- "$c" ||
		fail "README.md's first screen no longer contains '$c'; update tests/fresh/run.sh"
done

# The mirror the host's apt uses (deb822 or one-line sources).
host_uri() { # $1: path suffix, e.g. /debian
	{
		grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}'
		grep -hs '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list |
			awk '{for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) {print $i; break}}'
	} | sed 's|/*$||' | grep -m1 "$1\$" || true
}
mirror=${TARN_FRESH_MIRROR:-$(host_uri /debian)}
mirror=${mirror:-http://deb.debian.org/debian}
security=$(host_uri /debian-security)
security=${security:-http://deb.debian.org/debian-security}

# Unmount everything below $root, deepest first.
unmount_root() {
	local m
	awk -v r="$root" '$2 == r || index($2, r "/") == 1 {print $2}' /proc/mounts | sort -r |
		while read -r m; do
			umount "$m" 2>/dev/null || umount -l "$m"
		done
}
cleanup() {
	unmount_root
	if awk -v r="$root" 'index($2, r "/") == 1 {f = 1} END {exit !f}' /proc/mounts; then
		echo "fresh: could not unmount everything under $root" >&2
	fi
}
trap cleanup EXIT

# A pristine root: from the cache, or debootstrap once and cache it.
unmount_root
if awk -v r="$root" 'index($2, r "/") == 1 {f = 1} END {exit !f}' /proc/mounts; then
	fail "something is still mounted under $root"
fi
rm -rf --one-file-system "$root"
mkdir -p "$root" "$logs"
if [ -f "$cache" ]; then
	say "unpacking the pristine root from $cache"
	tar -C "$root" --numeric-owner -xpf "$cache"
else
	if ! command -v debootstrap >/dev/null; then
		say "installing debootstrap"
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
	fi
	say "debootstrap --variant=minbase bookworm from $mirror (a few minutes)"
	debootstrap --variant=minbase bookworm "$root" "$mirror" >"$logs/debootstrap.log" 2>&1 ||
		{
			tail -20 "$logs/debootstrap.log"
			fail "debootstrap (log: $logs/debootstrap.log)"
		}
	tar -C "$root" --numeric-owner -cpf "$cache.tmp" . && mv "$cache.tmp" "$cache"
fi

# What a Debian 12 install has and debootstrap does not write: the usual apt
# sources (with updates and security), name service, /etc/hosts.
rm -f "$root/etc/apt/sources.list"
cat >"$root/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
cp -L /etc/resolv.conf "$root/etc/resolv.conf"
[ -s "$root/etc/hosts" ] || printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"

# A clean clone of HEAD (uncommitted changes are not tested).
# (As root in a developer's repository: no safe.directory refusal, and no
# index refresh that would leave a root-owned .git/index behind.)
hostgit() { git -c safe.directory='*' --no-optional-locks -C "$repo" "$@"; }
head=$(hostgit rev-parse HEAD)
[ -z "$(hostgit status --porcelain)" ] ||
	say "note: $repo has uncommitted changes; testing HEAD $head only"
git -c safe.directory='*' clone -q --no-hardlinks \
	--upload-pack="git -c safe.directory='*' upload-pack" "$repo" "$root/root/tarn"
git -C "$root/root/tarn" checkout -q --detach "$head"
say "clone of $(hostgit log -1 --format='%h %s' "$head")"

# /proc (AddressSanitizer, ps), /sys, /dev; the network is the host's.
mount -t proc proc "$root/proc"
mount -t sysfs sysfs "$root/sys"
mount --bind /dev "$root/dev"
# TARN_FRESH_PTS=0 leaves /dev/pts out, as some chroots and minimal
# containers do: tests that need a terminal must then count as skipped.
if [ "${TARN_FRESH_PTS:-1}" != 0 ]; then
	mount --bind /dev/pts "$root/dev/pts"
else
	say "no /dev/pts in the root (TARN_FRESH_PTS=0)"
fi
if mountpoint -q /dev/shm; then mount --bind /dev/shm "$root/dev/shm"; fi

[ ! -e "$root/usr/bin/make" ] || fail "the pristine root already has make"

# One README command in the root, as root, in the clone, clean environment.
step=0
run() { # $1: log name, $2: command
	local log=$logs/$((step + 1))-$1.log t0 rc
	step=$((step + 1))
	say "[$step] $2"
	t0=$(date +%s)
	rc=0
	chroot "$root" /usr/bin/env -i \
		PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		HOME=/root TERM=dumb /bin/bash -c "cd /root/tarn && $2" </dev/null >"$log" 2>&1 || rc=$?
	tail -n 15 "$log" | sed 's/^/    | /'
	say "[$step] exit $rc after $(($(date +%s) - t0))s (log: $log)"
	if [ "$rc" -ne 0 ]; then
		failing_tests "$log"
		fail "'$2' exited $rc in the fresh root"
	fi
}

# Each failed test with its own lines: a CLI case's indented lines before
# its FAIL line, a unit case's cmocka ERROR/FAILED lines and sanitizer reports.
failing_tests() { # $1: log
	awk '
		/^(PASS|SKIP|FAIL) |^== / { if (/^FAIL /) { printf "%s", buf; print } ; buf = ""; next }
		/^\[  (ERROR|FAILED)  *\]|runtime error|Sanitizer/ { print; next }
		{ buf = buf $0 "\n" }
	' "$1" | grep -v '^\[  FAILED  \] [0-9]* test(s), listed below:$' | head -n 200 |
		sed 's/^/    ! /' || true
	grep -q '^FAIL \|\[  FAILED  \]' "$1" || say "(no test named its failure; see the log)"
}
run install-make 'apt-get update && apt-get install -y make'
for t in "${order[@]}"; do
	run "make-$t" "make $t"
done

say "ok: the README's commands work the first time on a fresh Debian 12 ($(($(date +%s) - start))s)"
