#!/bin/sh
# Close-to-open and durability (DESIGN.md section 4): writes are staged per
# open file and committed on flush/fsync/close; another process sees them
# after close; fsync and close return the commit's error; a failed commit
# changes nothing; after fsync, kill -9 of the daemon loses nothing, again
# and again, and the file always opens.
. "$(dirname "$0")/lib.sh"
h5fs_test_init

F=$WORK/a.h5 M=$WORK/mnt
"$PY" -c "
import h5py, numpy as np
with h5py.File('$F', 'w') as f:
    f['d'] = np.zeros(8)
" || fail "fixture"
h5fs_mount "$F" "$M" || fail "mount"

say "staged until close; visible to others after"
"$PY" -c "
import os, numpy as np
fd = os.open('$M/d', os.O_WRONLY)
os.pwrite(fd, np.full(2, 7.0).tobytes(), 8)
os.close(fd)
got = np.fromfile('$M/d', '<f8')
assert list(got) == [0, 7, 7, 0, 0, 0, 0, 0], got
" || fail "close-to-open"

say "a failed commit: fsync and close report it, nothing changes"
"$PY" -c "
import os, errno
fd = os.open('$M/bad', os.O_WRONLY | os.O_CREAT)
os.setxattr('$M/bad', 'user.h5.dtype', b'<f8')
os.setxattr('$M/bad', 'user.h5.shape', b'[3]')
os.write(fd, b'\0' * 16)            # 2 doubles, declared 3
try:
    os.fsync(fd); raise SystemExit('fsync worked')
except OSError as e:
    assert e.errno == errno.EINVAL, e
try:
    os.close(fd); raise SystemExit('close worked')
except OSError as e:
    assert e.errno == errno.EINVAL, e
fd = os.open('$M/d', os.O_WRONLY)
os.ftruncate(fd, 5)                 # 5 bytes of <f8 fit no shape
try:
    os.close(fd); raise SystemExit('close of 5 bytes worked')
except OSError as e:
    assert e.errno == errno.EINVAL, e
import time
for i in range(50):
    if os.stat('$M/d').st_size == 64:
        break
    time.sleep(0.1)
assert os.stat('$M/d').st_size == 64, os.stat('$M/d').st_size
" || fail "failed commit"

say "fsync then kill -9, five times"
var=PID_$(echo "$M" | tr -c 'a-zA-Z0-9\n' _)
for i in 1 2 3 4 5; do
	eval "pid=\$$var"
	DPID=$pid "$PY" -c "
import os, numpy as np
fd = os.open('$M/d', os.O_WRONLY)
os.pwrite(fd, np.full(1, $i.5).tobytes(), 8 * $i)
os.fsync(fd)
os.setxattr('$M', 'user.round', b'$i')
os.kill(int(os.environ['DPID']), 9)
" || fail "write round $i"
	wait "$pid" 2>/dev/null
	fusermount3 -u -z "$M" 2>/dev/null
	"$PY" -c "
import h5py
with h5py.File('$F', 'r') as f:
    d = f['d'][()]
    assert d[$i] == $i.5, d
    assert f.attrs['round'] == $i
" || fail "after kill -9 round $i the data is lost or the file unreadable"
	h5fs_mount "$F" "$M" || fail "remount $i"
done
h5fs_umount "$M"
"$PY" -c "
import h5py
d = h5py.File('$F', 'r')['d'][()]
assert list(d) == [0, 1.5, 2.5, 3.5, 4.5, 5.5, 0, 0], d
assert 'bad' not in h5py.File('$F', 'r')
" || fail "final"
h5fs_done
