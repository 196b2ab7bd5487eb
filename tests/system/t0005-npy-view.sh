#!/bin/sh
# -o view=npy: datasets appear as NAME.npy and numpy.load returns them.
. "$(dirname "$0")/lib.sh"
h5fs_test_init

F=$WORK/full.h5 M=$WORK/mnt
"$PY" -W ignore "$TESTS_DIR/h5fs_fixtures.py" make full "$F" || fail "fixture"
h5fs_mount "$F" "$M" -o view=npy || fail "mount"
"$PY" -W ignore "$TESTS_DIR/h5fs_fixtures.py" check "$M" "$F" --npy || fail "check"
[ -f "$M/layouts/gzip.npy" ] || fail "gzip.npy missing"
[ -f "$M/vlen_str" ] || fail "vlen strings keep their name"
[ "$(readlink "$M/links/soft_abs")" = "../layouts/contiguous.npy" ] || fail "soft link to a .npy"
"$PY" -c "
import numpy as np
a = np.load('$M/layouts/contiguous.npy', mmap_mode='r')
assert a.shape == (10, 100) and a[3, 7] == 307.0
b = np.load('$M/floats/be_f8.npy')
assert b.dtype.str == '>f8'
" || fail "numpy.load"
h5fs_umount "$M"
h5fs_check_log "$M" 'has no fixed byte image'
h5fs_done
