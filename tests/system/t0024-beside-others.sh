#!/bin/sh
# Living beside other programs (DESIGN.md section 5): the daemon lets go
# of the file after idle_close; an h5py writer appends meanwhile and the
# mount shows it; while h5py holds the file, an operation that needs it
# waits lock_timeout and fails with EAGAIN (one log line), and the daemon
# keeps serving afterwards.
. "$(dirname "$0")/lib.sh"
h5fs_test_init

F=$WORK/a.h5 M=$WORK/mnt
"$PY" -c "
import h5py, numpy as np
with h5py.File('$F', 'w') as f:
    f['d'] = np.arange(4.0)
    f.create_dataset('c', data=np.arange(100.0), chunks=(10,))
" || fail "fixture"
h5fs_mount "$F" "$M" -o idle_close=0.3,lock_timeout=1 || fail "mount"

say "write through the mount, go idle, append with h5py, see it"
setfattr -n user.by -v mount "$M" || fail "setfattr"
cat "$M/c" >/dev/null
sleep 1
"$PY" -c "
import h5py, numpy as np
with h5py.File('$F', 'a') as f:
    f['appended'] = np.arange(3, dtype='<i4')
    f['d'][0] = 42.0
    f['g/deep'] = np.ones(2)
" || fail "h5py could not open the idle file for writing"
ls "$M" | grep -qx appended || fail "the new dataset is not shown"
[ "$(od -A n -t f8 -N 8 "$M/d" | tr -d ' ')" = 42 ] || fail "changed data not shown"
[ -f "$M/g/deep" ] || fail "new group not shown"
cmp "$M/c" "$M/c" || fail "chunked read after refresh"
setfattr -n user.after -v 1 "$M/appended" || fail "write after refresh"

say "h5py holds the file: EAGAIN after lock_timeout, then service again"
sleep 1
"$PY" -c "
import h5py, time, sys
f = h5py.File('$F', 'a')
open('$WORK/held', 'w').close()
time.sleep(4)
f.close()
" &
hp=$!
while [ ! -e "$WORK/held" ]; do sleep 0.05; done
expect_fail "Device or resource busy" setfattr -n user.blocked -v 1 "$M"
expect_fail "Resource temporarily unavailable" setfattr -x user.by "$M"
wait $hp
setfattr -n user.unblocked -v 1 "$M" || fail "no service after the lock was released"
ls "$M" >/dev/null || fail "ls"
h5fs_umount "$M"
[ "$(grep -c 'locked by another program' "$M.log")" -ge 1 ] || fail "no log line for the lock"
"$PY" -c "
import h5py
f = h5py.File('$F', 'r')
assert f.attrs['by'] == 'mount' and f.attrs['unblocked'] == 1 and 'blocked' not in f.attrs
assert f['appended'].attrs['after'] == 1
" || fail "h5py check"
h5fs_done
