#!/bin/sh
# Soft, external and hard links; link loops; awkward names (spaces, '#',
# '[', case-only differences, dot-groups like .parameters and .map).
. "$(dirname "$0")/lib.sh"
h5fs_test_init

F=$WORK/full.h5 M=$WORK/mnt
"$PY" -W ignore "$TESTS_DIR/h5fs_fixtures.py" make full "$F" ext_target.h5 || fail "fixture"
h5fs_mount "$F" "$M" || fail "mount"
say "soft links are relative symlinks"
[ "$(readlink "$M/links/soft_abs")" = "../layouts/contiguous" ] || fail "soft_abs -> $(readlink "$M/links/soft_abs")"
[ "$(readlink "$M/links/soft_grp")" = "../ints" ] || fail "soft_grp"
[ "$(readlink "$M/links/soft_rel")" = "target" ] || fail "soft_rel"
[ "$(readlink "$M/links/soft_root")" = ".." ] || fail "soft_root"
cmp "$M/links/soft_abs" "$M/layouts/contiguous" || fail "reading through a soft link"
ls "$M/links/soft_grp/" | grep -q le_i4 || fail "listing through a soft link"
[ -L "$M/links/dangling" ] && [ ! -e "$M/links/dangling" ] || fail "dangling link should dangle"
say "external links are FILE::/path symlinks, not followed"
[ "$(readlink "$M/links/ext")" = "ext_target.h5::/some/path" ] || fail "ext -> $(readlink "$M/links/ext")"
[ ! -e "$M/links/ext" ] || fail "external link should not resolve"
say "hard links share an inode; st_nlink is the reference count"
[ "$(stat -c %i "$M/links/hard")" = "$(stat -c %i "$M/layouts/gzip")" ] || fail "inode"
[ "$(stat -c %h "$M/links/hard")" = 2 ] || fail "nlink"
h5fs_umount "$M"
h5fs_check_log "$M"

say "names"
F=$WORK/names.h5
"$PY" "$TESTS_DIR/h5fs_fixtures.py" make names "$F" || fail "fixture"
h5fs_mount "$F" "$M" || fail "mount names"
"$PY" -W ignore "$TESTS_DIR/h5fs_fixtures.py" check "$M" "$F" || fail "check names"
for d in .parameters .map "with space" "hash#name" "brack[0]" Case case caSe; do
	[ -d "$M/$d" ] || fail "group '$d' missing"
	getfattr --absolute-names -n user.name --only-values "$M/$d" | grep -qxF "$d" || fail "attribute of '$d'"
	[ "$(stat -c %s "$M/$d/data")" -eq 12 ] || fail "'$d/data' size"
done
ls -a "$M" | grep -qx .parameters || fail "ls -a hides .parameters"
[ "$(ls "$M" | grep -ci '^case$')" -eq 3 ] || fail "case-only names"
getfattr --absolute-names -n user.n_steps --only-values "$M/.parameters" | grep -qx 10 || fail ".parameters attr"
h5fs_umount "$M"
h5fs_check_log "$M"

say "loops"
F=$WORK/loops.h5
"$PY" "$TESTS_DIR/h5fs_fixtures.py" make loops "$F" || fail "fixture"
h5fs_mount "$F" "$M" || fail "mount loops"
expect_fail "Too many levels of symbolic links" cat "$M/loop_a"
expect_fail "Too many levels of symbolic links" cat "$M/self"
[ "$(readlink "$M/g/up")" = "." ] || fail "g/up -> $(readlink "$M/g/up")"
timeout 20 find "$M" >/dev/null 2>&1
[ $? -ne 124 ] || fail "find hangs on a loop"
timeout 20 ls -laR "$M" >/dev/null 2>&1
[ $? -ne 124 ] || fail "ls -R hangs on a loop"
# hard links back to a group being listed (Linux refuses directory
# cycles) are symlinks to it; a second name without a cycle is the group
[ "$(readlink "$M/g/again")" = "." ] || fail "g/again -> $(readlink "$M/g/again")"
[ "$(readlink "$M/g/h/i/top")" = "../.." ] || fail "g/h/i/top -> $(readlink "$M/g/h/i/top")"
cmp "$M/g/d" "$M/g/again/d" || fail "g/again/d"
cmp "$M/g/d" "$M/g/h/i/top/d" || fail "g/h/i/top/d"
[ -d "$M/g2" ] && [ ! -L "$M/g2" ] || fail "g2 is not a directory"
[ "$(stat -c %i "$M/g2")" = "$(stat -c %i "$M/g")" ] || fail "g2 and g are not one inode"
out=$(find "$M/g" 2>&1) || fail "find reports an error: $out"
h5fs_umount "$M"
h5fs_check_log "$M"
h5fs_done
