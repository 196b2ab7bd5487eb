#!/bin/sh
# getfattr -d shows every attribute and the computed user.h5.* keys;
# ENODATA, ERANGE, E2BIG, EROFS and EOPNOTSUPP where DESIGN.md says.
. "$(dirname "$0")/lib.sh"
h5fs_test_init
command -v getfattr >/dev/null 2>&1 || skip "getfattr (package attr) is missing"

F=$WORK/full.h5 M=$WORK/mnt
"$PY" -W ignore "$TESTS_DIR/h5fs_fixtures.py" make full "$F" || fail "fixture"
h5fs_mount "$F" "$M" -o ro || fail "mount"

out=$(getfattr -d "$M" 2>&1)
for kv in 'user.title="full fixture"' 'user.count="42"' 'user.pi="3.141592653589793"' \
	'user.tenth="0.1"' 'user.flag="true"' 'user.ints="[0, 1, 2, 3]"' 'user.floats="[0.5, 1.5]"' \
	'user.h5.attr.h5.reserved="collides"' 'user.h5.kind="group"'; do
	echo "$out" | grep -qxF "$kv" || fail "getfattr -d /: missing $kv in: $out"
done
echo "$out" | grep -q 'user.big: Argument list too long' || fail "big attribute should give E2BIG"

out=$(getfattr -d "$M/layouts/gzip")
for kv in 'user.units="m/s"' 'user.scale="0.25"' 'user.h5.kind="dataset"' 'user.h5.dtype="<f8"' \
	'user.h5.shape="[50, 100]"' 'user.h5.maxshape="[50, 100]"' 'user.h5.chunks="[8, 32]"' \
	'user.h5.layout="chunked"'; do
	echo "$out" | grep -qxF "$kv" || fail "getfattr -d gzip: missing $kv in: $out"
done
echo "$out" | grep -q '^user.h5.filters=.*deflate.*params.*\[6\]' || fail "filters: $out"
echo "$out" | grep -q '^user.h5.storage_size="[0-9]*"' || fail "storage_size"
getfattr -n user.h5.maxshape "$M/layouts/unlimited" | grep -qxF 'user.h5.maxshape="[null]"' || fail "unlimited maxshape"
getfattr -n user.h5.shape "$M/spaces/scalar_f8" | grep -qxF 'user.h5.shape="[]"' || fail "scalar shape"
getfattr -n user.h5.kind "$M/types/float_t" | grep -qxF 'user.h5.kind="datatype"' || fail "datatype kind"

say "numpy.fromfile from user.h5.dtype and user.h5.shape"
"$PY" -c "
import os, json, numpy as np, h5py
p = '$M/layouts/gzip'
a = np.fromfile(p, dtype=os.getxattr(p, 'user.h5.dtype').decode()).reshape(json.loads(os.getxattr(p, 'user.h5.shape')))
assert (a == h5py.File('$F', 'r')['layouts/gzip'][()]).all()
" || fail "fromfile+reshape"

say "errors"
expect_fail "No such attribute" getfattr -n user.nothing "$M"
expect_fail "No such attribute" getfattr -n trusted.x "$M"
expect_fail "No such attribute" getfattr -n user.h5.nothing "$M"
"$PY" -c "
import os, errno
try:
    os.getxattr('$M', 'user.title', follow_symlinks=True)
except OSError as e:
    raise SystemExit(1)
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
buf = ctypes.create_string_buffer(3)
r = libc.getxattr(b'$M', b'user.title', buf, 3)
assert r == -1 and ctypes.get_errno() == errno.ERANGE, (r, ctypes.get_errno())
" || fail "small buffer should give ERANGE"
expect_fail "Read-only file system" setfattr -n user.new -v 1 "$M"
expect_fail "Read-only file system" setfattr -x user.title "$M"
h5fs_umount "$M"
h5fs_check_log "$M"

say "read-write mount: computed metadata and other namespaces are refused (t0020 tests writes)"
h5fs_mount "$F" "$M" -o rw || fail "mount rw"
expect_fail "Operation not permitted" setfattr -n user.h5.dtype -v '<f4' "$M/layouts/gzip"
expect_fail "Operation not supported" setfattr -n trusted.x -v 1 "$M"
h5fs_umount "$M"
h5fs_check_log "$M" 'computed metadata is read-only'
h5fs_done
