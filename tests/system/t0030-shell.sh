#!/bin/sh
# Everyday shell writes (DESIGN.md sections 4 and 5): >, >>, cat a > b,
# : > f, truncate -s, dd conv=notrunc, tee, python open('w') and a
# descriptor duplicated and closed twice, sed -i and a temporary file
# moved over a dataset (as editors do), each with bytes that fit the
# dataset and bytes that do not, each checked with h5py afterwards: what
# fits is there with its creation properties and attributes, and a
# refused commit leaves the dataset exactly as it was before the open,
# with no hidden dataset behind.  Then all of it again through a bind
# mount of the mount.
. "$(dirname "$0")/lib.sh"
h5fs_test_init

F=$WORK/shell.h5 M=$WORK/mnt
"$PY" "$TESTS_DIR/h5fs_shell.py" make "$F" || fail "fixture"
h5fs_mount "$F" "$M" || fail "mount"
"$PY" "$TESTS_DIR/h5fs_shell.py" run "$M" "$F" >"$WORK/cases.txt"
rc=$?
cat "$WORK/cases.txt"
[ "$rc" -eq 0 ] || fail "shell writes"
h5fs_umount "$M"
h5fs_check_log "$M" "commit of '.*' refused: "
# one line per refused commit: none is refused twice (as by the release after a close)
want=$(grep -c "does not fit" "$WORK/cases.txt")
n=$(grep -c "refused: " "$M.log")
[ "$n" -eq "$want" ] || { grep "refused: " "$M.log" >&2; fail "$n refusal lines for $want refused cases"; }

say "the same through a bind mount of the mount (the daemon tells its own mount from others)"
[ "$(id -u)" -eq 0 ] || { echo "not root: no bind mount here, that half is not run"; h5fs_done; }
"$PY" "$TESTS_DIR/h5fs_shell.py" make "$F" || fail "fixture (bind)"
h5fs_mount "$F" "$M" || fail "mount (bind)"
B=$WORK/bind
mkdir -p "$B" && mount --bind "$M" "$B" || fail "bind mount"
"$PY" "$TESTS_DIR/h5fs_shell.py" run "$B" "$F" >"$WORK/cases-bind.txt"
rc=$?
umount "$B"
cat "$WORK/cases-bind.txt"
[ "$rc" -eq 0 ] || fail "shell writes through a bind mount"
h5fs_umount "$M"
h5fs_check_log "$M" "commit of '.*' refused: "
h5fs_done
