#!/usr/bin/env bash
# Every C file given follows .clang-format (clang-format 14, Debian 12's).
# Prints "format: FILE: N lines differ" per file that departs, then the diff
# of the first, and ends "format: N files checked, N differ".
set -u
cd "$(dirname "$0")/.."
command -v clang-format >/dev/null ||
	{ echo "format: no clang-format (bash scripts/deps.sh test installs it)"; exit 1; }
n=0
bad=()
for f in "$@"; do
	n=$((n + 1))
	d=$(clang-format --style=file "$f" | diff -u "$f" - | tail -n +3)
	if [ -n "$d" ]; then
		echo "format: $f: $(echo "$d" | grep -c '^[-+]') lines differ"
		[ ${#bad[@]} -eq 0 ] && echo "$d" | head -40 | sed 's/^/    /'
		bad+=("$f")
	fi
done
echo "format: $n files checked, ${#bad[@]} differ${bad[*]:+ (make format fixes them)}"
[ ${#bad[@]} -eq 0 ]
