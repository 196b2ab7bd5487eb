#!/bin/sh
# Every dataset reads back byte-identical to h5py's ds[()].tobytes():
# every dtype, layout, filter and dataspace of the full fixture, through
# read, pread at odd offsets, numpy.fromfile, numpy.memmap and
# fromfile(user.h5.dtype).reshape(user.h5.shape); then cat/dd/cmp/od.
. "$(dirname "$0")/lib.sh"
h5fs_test_init

F=$WORK/full.h5 M=$WORK/mnt
"$PY" -W ignore "$TESTS_DIR/h5fs_fixtures.py" make full "$F" || fail "fixture"
h5fs_mount "$F" "$M" || fail "mount"

say "compare every dataset with h5py"
"$PY" -W ignore "$TESTS_DIR/h5fs_fixtures.py" check "$M" "$F" || fail "check"

say "cat, dd, cmp, od"
"$PY" -c "
import h5py, sys
f = h5py.File('$F', 'r')
for n in ['layouts/gzip', 'layouts/contiguous', 'floats/be_f8', 'compound', 'layouts/unallocated']:
    open('$WORK/' + n.replace('/', '_'), 'wb').write(f[n][()].tobytes())
" || fail "reference bytes"
for n in layouts/gzip layouts/contiguous floats/be_f8 compound layouts/unallocated; do
	ref=$WORK/$(echo "$n" | tr / _)
	cat "$M/$n" | cmp - "$ref" || fail "cat $n differs"
	dd if="$M/$n" bs=4096 status=none | cmp - "$ref" || fail "dd $n differs"
	dd if="$M/$n" bs=7 skip=3 status=none | cmp -i 0:21 - "$ref" || fail "dd skip $n differs"
done
od -A n -t f8 -N 16 "$M/layouts/contiguous" | tr -s ' ' | grep -qx ' 0 1' || fail "od contiguous"
od -A n -t d1 -j 4294967296 "$M/layouts/huge_extent" | tr -s ' ' | grep -qx ' 7 7 7 7 7' || fail "od past 2^32"

say "vlen strings as text"
printf 'hello\nw\303\266rld\ntwo\\nlines\nback\\\\slash\n\n' | cmp - "$M/vlen_str" || fail "vlen_str text"
printf 'just one\n' | cmp - "$M/vlen_str_scalar" || fail "scalar vlen text"

say "types without a byte image"
expect_fail "Operation not supported" cat "$M/noimage/refs"
expect_fail "Operation not supported" cat "$M/noimage/vlen_seq"
getfattr -n user.h5.dtype "$M/noimage/refs" >/dev/null || fail "metadata of refs"
[ "$(stat -c %s "$M/spaces/null")" -eq 0 ] || fail "null dataspace size"
[ "$(stat -c %s "$M/types/float_t")" -eq 0 ] || fail "named datatype size"

h5fs_umount "$M"
h5fs_check_log "$M" 'has no fixed byte image'
h5fs_done
