#!/bin/sh
# h5fs-mpiwrite under mpiexec -n NP (NP = $1, default 2): new, replace and
# in-place writes of staged 1-D and 2-D arrays, checked with h5py; a helper
# that fails on one rank and a helper killed before the move leave the old
# dataset intact.  Prints cmocka-style summary lines for tests/mpi/run.sh.
np=${1:-2}
build=${H5FS_BUILD:-build}
helper=$(cd "$build/bin" 2>/dev/null && pwd)/h5fs-mpiwrite
py=/usr/bin/python3
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl=${OMPI_MCA_btl:-self,vader} OMPI_MCA_rmaps_base_oversubscribe=1

pass=0 fail=0
ok() { pass=$((pass + 1)); echo "[       OK ] $1"; }
bad() { fail=$((fail + 1)); echo "[  FAILED  ] $1"; }
run() { timeout -k 5 120 mpiexec --oversubscribe -n "$np" "$helper" "$@"; }

if [ ! -x "$helper" ] || ! command -v mpiexec >/dev/null 2>&1 || ! $py -c 'import h5py' 2>/dev/null; then
	echo "test_mpiwrite: skipped: needs $helper, mpiexec and h5py"
	echo "[  PASSED  ] 0 test(s)."
	exit 0
fi
dir=$(mktemp -d "${TMPDIR:-/tmp}/h5fs-mpiwrite-XXXXXX")
trap 'rm -rf "$dir"' EXIT INT TERM
f=$dir/data.h5

# The file the daemon would hand over, and staging files (whole images).
$py - "$dir" <<'EOF' || { echo "setup failed"; exit 1; }
import sys, h5py, numpy as np
d = sys.argv[1]
with h5py.File(d + '/data.h5', 'w') as f:
    g = f.create_group('g')
    m = g.create_dataset('m', data=np.arange(30.0).reshape(10, 3), chunks=(4, 3), compression='gzip')
    m.attrs['unit'] = 'm'
    m.attrs['scale'] = np.arange(3)
    g.create_dataset('keep', data=np.arange(8, dtype='<i8'))
    g.create_dataset('same', data=np.zeros((13, 2), dtype='>i2'))
np.arange(1001, dtype='>i4').tofile(d + '/st1d')
# 2-D: 17 rows over NP ranks; with an NPY-style 128-byte header in front
with open(d + '/st2d', 'wb') as out:
    out.write(b'x' * 128)
    out.write((np.arange(17 * 3, dtype='<f8') * 0.5).tobytes())
(np.arange(26) - 7).astype('>i2').tofile(d + '/stsame')
np.ones(50, dtype='<i8').tofile(d + '/stkeep')
EOF

check() { # NAME PYTHON-ASSERTIONS
	if $py - "$dir" >"$dir/check.log" 2>&1 <<EOF
import sys, h5py, numpy as np
d = sys.argv[1]
with h5py.File(d + '/data.h5', 'r') as f:
$2
EOF
	then ok "$1"; else cat "$dir/check.log"; bad "$1"; fi
}

# 1. new 1-D dataset
if run --mode=new -- "$f" /g/v "$dir/st1d" '>i4' '[1001]' 2>"$dir/err"; then
	check "new 1-D -n $np" "
    v = f['g/v']
    assert v.dtype == np.dtype('>i4') and v.shape == (1001,), (v.dtype, v.shape)
    assert (v[()] == np.arange(1001)).all()
    assert not [k for k in f['g'] if k.startswith('.h5fs-')], list(f['g'])"
else cat "$dir/err"; bad "new 1-D -n $np"; fi

# 2. replace a chunked, compressed 2-D dataset: shape changes, attributes stay
if run --mode=replace --offset=128 "$f" /g/m "$dir/st2d" '<f8' '[17,3]' 2>"$dir/err"; then
	check "replace 2-D -n $np" "
    m = f['g/m']
    assert m.shape == (17, 3) and m.dtype == np.dtype('<f8'), m.shape
    assert (m[()].ravel() == np.arange(51) * 0.5).all(), m[()]
    assert m.attrs['unit'] == 'm' and (m.attrs['scale'] == np.arange(3)).all()
    assert m.compression == 'gzip' and m.chunks == (4, 3), (m.compression, m.chunks)
    assert not [k for k in f['g'] if k.startswith('.h5fs-')], list(f['g'])"
else cat "$dir/err"; bad "replace 2-D -n $np"; fi

# 3. full overwrite in place
if run --mode=inplace "$f" /g/same "$dir/stsame" '>i2' '[13,2]' 2>"$dir/err"; then
	check "in place -n $np" "
    s = f['g/same']
    assert s.shape == (13, 2) and (s[()].ravel() == np.arange(26) - 7).all(), s[()]"
else cat "$dir/err"; bad "in place -n $np"; fi

# 4. in place with the wrong shape is refused (exit status 10: H5FS_ETYPE)
run --mode=inplace "$f" /g/same "$dir/stsame" '>i2' '[26]' 2>"$dir/err"
rc=$?
if [ "$rc" -eq 10 ] && grep -q '^h5fs-mpiwrite: .*shape' "$dir/err"; then ok "in place wrong shape -n $np"
else echo "exit $rc"; cat "$dir/err"; bad "in place wrong shape -n $np"; fi

# 5. one rank fails: the old dataset stays, no hidden dataset is left
H5FS_MPIWRITE_FAIL_RANK=$((np - 1)) run --mode=replace "$f" /g/keep "$dir/stkeep" '<i8' '[50]' 2>"$dir/err"
rc=$?
if [ "$rc" -ne 0 ] && grep -q '^h5fs-mpiwrite: .*failing as asked' "$dir/err"; then
	check "failing rank -n $np" "
    k = f['g/keep']
    assert k.shape == (8,) and (k[()] == np.arange(8)).all(), k[()]
    assert not [k for k in f['g'] if k.startswith('.h5fs-')], list(f['g'])"
else echo "exit $rc"; cat "$dir/err"; bad "failing rank -n $np"; fi

# 6. killed after writing, before the move: the old dataset stays
H5FS_MPIWRITE_PAUSE=60 setsid mpiexec --oversubscribe -n "$np" "$helper" --mode=replace "$f" /g/keep "$dir/stkeep" '<i8' '[50]' \
	>"$dir/killed.log" 2>&1 &
pid=$!
# wait for the written hidden dataset (the file is closed during the pause)
i=0
while [ $i -lt 100 ]; do
	if $py -c "import h5py, sys; f = h5py.File(sys.argv[1], 'r'); sys.exit(0 if [k for k in f['g'] if k.startswith('.h5fs-tmp')] else 1)" "$f" 2>/dev/null; then
		break
	fi
	sleep 0.2
	i=$((i + 1))
done
kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid"
wait "$pid" 2>/dev/null
check "killed helper -n $np" "
    k = f['g/keep']
    assert k.shape == (8,) and (k[()] == np.arange(8)).all(), k[()]
    assert [k for k in f['g'] if k.startswith('.h5fs-tmp')], 'the helper was killed before it wrote'"

echo "[  PASSED  ] $pass test(s)."
[ "$fail" -eq 0 ] || echo "[  FAILED  ] $fail test(s), listed above"
[ "$fail" -eq 0 ]
