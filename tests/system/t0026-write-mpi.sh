#!/bin/sh
# The MPI hand-off (DESIGN.md section 4, "Large writes"): commits of at
# least mpi_threshold bytes are written by `mpiexec -n NP h5fs-mpiwrite`;
# new, replaced and in-place datasets; when mpiexec cannot be found the
# daemon writes in-process and logs why.
. "$(dirname "$0")/lib.sh"
h5fs_test_init
command -v mpiexec >/dev/null 2>&1 || skip "mpiexec is missing"
[ -x "$BUILD/bin/h5fs-mpiwrite" ] || skip "h5fs-mpiwrite is not built"

F=$WORK/a.h5 M=$WORK/mnt
"$PY" -c "
import h5py, numpy as np
with h5py.File('$F', 'w') as f:
    f['old'] = np.zeros((100, 4))
    f['old'].attrs['unit'] = 'm'
np.save('$WORK/big.npy', np.arange(40000, dtype='<f8').reshape(10000, 4))
np.arange(800, dtype='<f8').tofile('$WORK/rows.bin')
" || fail "fixture"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
# Under ASan, Open MPI's start-up leaks from components it has dlclose()d
# (frames "<unknown module>", which no suppression can name): the ranks
# of the ASan-built helper run without leak checking.
extra=
[ -n "$H5FS_SANITIZE" ] && extra=" -x ASAN_OPTIONS=detect_leaks=0"
h5fs_mount "$F" "$M" -o "mpi_threshold=4K,mpi_np=2,mpi_args=--oversubscribe$extra" || fail "mount"

say "new dataset from a .npy, replaced and in-place datasets"
cp "$WORK/big.npy" "$M/" || fail "cp big.npy"
cat "$WORK/rows.bin" > "$M/old" || fail "replace old"
"$PY" -c "
import os, numpy as np
fd = os.open('$M/big', os.O_WRONLY)
os.pwrite(fd, np.full(1000, -1.0).tobytes(), 8000)
os.close(fd)
" || fail "in place"
[ "$(grep -c 'by h5fs-mpiwrite on 2 ranks' "$M.log")" -ge 3 ] || { cat "$M.log"; fail "the helper did not write"; }
ls -la "$M" >/dev/null
h5fs_umount "$M"
h5fs_check_log "$M"
"$PY" -c "
import h5py, numpy as np
f = h5py.File('$F', 'r')
b = f['big'][()]; ref = np.arange(40000, dtype='<f8').reshape(10000, 4); ref.ravel()[1000:2000] = -1
assert b.shape == (10000, 4) and (b == ref).all()
o = f['old']; assert o.shape == (200, 4) and (o[()].ravel() == np.arange(800)).all() and o.attrs['unit'] == 'm'
" || fail "h5py check"

say "no mpiexec: in-process, with a warning"
h5fs_mount "$F" "$M" -o mpi_threshold=4K,mpiexec=/nonexistent/mpiexec || fail "mount 2"
cat "$WORK/rows.bin" "$WORK/rows.bin" > "$M/old" || fail "in-process write"
h5fs_umount "$M"
grep -q 'MPI helper cannot run' "$M.log" || fail "no warning"
"$PY" -c "
import h5py
assert h5py.File('$F', 'r')['old'].shape == (400, 4)
" || fail "h5py check 2"
h5fs_done
