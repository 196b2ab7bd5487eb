#!/bin/sh
# libh5fs.so exports its public API and nothing else: the functions the
# headers under include/ declare with H5FS_EXTERN, every one of them.
so=${1:?usage: check-exports.sh LIBSO}
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
perl -0777 -ne 'while (/H5FS_EXTERN\([^)]*\)\s*(\w+)\s*\(/g) { print "$1\n" }' \
	include/h5fs.h include/h5fs/*.h include/h5fs/sys/*.h | sort -u > "$tmp/api"
# every defined dynamic symbol, whatever its name (the linker's own markers aside)
nm -D --defined-only "$so" | awk '$2 ~ /^[TDBRVWiu]$/ && $3 !~ /^(_init|_fini|_edata|_end|__bss_start)$/ { print $3 }' |
	sort -u > "$tmp/so"
extra=$(comm -13 "$tmp/api" "$tmp/so")
missing=$(comm -23 "$tmp/api" "$tmp/so")
[ -z "$extra" ] || echo "exports: $so exports what no public header declares: $(echo $extra)"
[ -z "$missing" ] || echo "exports: $so lacks what the headers declare: $(echo $missing)"
if [ -z "$extra$missing" ]; then
	echo "exports: 1 passed, 0 failed ($(wc -l < "$tmp/api") functions)"
else
	echo "exports: 0 passed, 1 failed"
	exit 1
fi
