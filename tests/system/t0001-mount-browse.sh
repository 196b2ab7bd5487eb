#!/bin/sh
# Mount a file with every kind of object; ls, find, stat, du on every
# group; the daemon exits 0 after unmount and logs nothing unexpected.
. "$(dirname "$0")/lib.sh"
h5fs_test_init

F=$WORK/full.h5 M=$WORK/mnt
"$PY" -W ignore "$TESTS_DIR/h5fs_fixtures.py" make full "$F" || fail "fixture"
h5fs_mount "$F" "$M" -o ro || fail "mount"

say "ls -la every group"
find "$M" -type d | while read -r d; do
	ls -la "$d" >/dev/null || fail "ls -la $d"
done
ls -la "$M" | grep -q ' layouts$' || fail "layouts not listed"

say "find lists every object once"
n=$(find "$M" | wc -l)
want=$("$PY" -c "
import h5py
f = h5py.File('$F', 'r')
def count(g):
    n = 0
    for k in g:
        n += 1
        if isinstance(g.get(k, getlink=True), h5py.HardLink) and isinstance(g[k], h5py.Group):
            n += count(g[k])
    return n
print(count(f) + 1)")
[ "$n" -eq "$want" ] || fail "find lists $n entries, HDF5 has $want links"
nd=$(find "$M" -type d | wc -l); [ "$nd" -eq 8 ] || fail "$nd directories, expected 8"

say "stat"
stat -c '%F %s %h' "$M/layouts/gzip" | grep -qx 'regular file 40000 2' || fail "stat gzip: $(stat -c '%F %s %h' "$M/layouts/gzip")"
stat -c '%F' "$M/links/soft_abs" | grep -qx 'symbolic link' || fail "soft link is not a symlink"
stat -c '%s' "$M/layouts/huge_extent" | grep -qx 4294967301 || fail "huge extent size"
[ "$(stat -c %i "$M/layouts/gzip")" = "$(stat -c %i "$M/links/hard")" ] || fail "hard links differ in inode"
stat -f -c '%T' "$M" >/dev/null || fail "statfs"

say "du shows the stored size"
du_gzip=$(du -k "$M/layouts/gzip" | cut -f1)
du_contig=$(du -k "$M/layouts/contiguous" | cut -f1)
[ "$du_gzip" -lt 40 ] || fail "du of gzip dataset $du_gzip KiB, expected compressed"
[ "$du_contig" -ge 7 ] || fail "du of contiguous dataset $du_contig KiB"
du -s "$M" >/dev/null || fail "du -s"

say "read-only"
expect_fail "Read-only file system" touch "$M/newfile"
expect_fail "Read-only file system" mkdir "$M/newdir"
expect_fail "Read-only file system" sh -c "echo x > '$M/layouts/contiguous'"

h5fs_umount "$M"
h5fs_check_log "$M"
h5fs_done
