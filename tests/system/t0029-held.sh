#!/bin/sh
# A writer holds the file (DESIGN.md section 5).  While it does, what the
# index has is answered at once: ls, stat, getfattr and cat of data at
# known offsets each take under 0.1 s.  A read that needs libhdf5 (an
# uncached gzip chunk) waits for the writer and succeeds once it is gone,
# or fails with EAGAIN after lock_timeout; writes likewise (setxattr says
# EBUSY: Linux turns a FUSE setxattr's EAGAIN into EOPNOTSUPP).  Each
# give-up is one log line.  Afterwards the mount shows the writer's work.
. "$(dirname "$0")/lib.sh"
h5fs_test_init

F=$WORK/held.h5 M=$WORK/mnt
"$PY" -c "
import h5py, numpy as np
with h5py.File('$F', 'w') as f:
    f['plain'] = np.arange(100000.0)
    f['plain'].attrs['unit'] = 'm'
    f.create_dataset('packed', data=np.arange(200000.0), chunks=(10000,), compression='gzip')
    f.create_dataset('packed2', data=np.arange(200000.0) * 2, chunks=(10000,), compression='gzip')
" || fail "fixture"

# hold.py SECONDS: open 'a', write a new dataset, flush, say so, hold,
# note the time, close
cat >"$WORK/hold.py" <<EOF
import h5py, numpy as np, os, sys, time
f = h5py.File('$F', 'a')
f.require_dataset('by_writer', (10,), 'f8')[:] = np.arange(10.0)
f.flush()
open('$WORK/held', 'w').close()
time.sleep(float(sys.argv[1]))
open('$WORK/released', 'w').write(repr(time.time()))
f.close()
os.remove('$WORK/held')
EOF

start_hold() {
	"$PY" "$WORK/hold.py" "$1" &
	HOLDER=$!
	while [ ! -e "$WORK/held" ]; do sleep 0.02; done
}

h5fs_mount "$F" "$M" -o lock_timeout=10 || fail "mount"
cat "$M/plain" >/dev/null	# nothing read from the gzip datasets yet

say "held for 3 s: index answers and data at known offsets at once; a gzip read waits"
start_hold 3
"$PY" - "$M" <<'EOF' || fail "answers during the hold"
import os, sys, time
m = sys.argv[1]
def timed(what, fn):
    t = time.monotonic()
    fn()
    dt = time.monotonic() - t
    print("%-28s %.4f s" % (what, dt))
    if dt >= 0.1:
        sys.exit("%s took %.3f s during the hold" % (what, dt))
timed("ls", lambda: os.listdir(m))
timed("stat", lambda: os.stat(os.path.join(m, "plain")))
timed("getfattr user.unit", lambda: os.getxattr(os.path.join(m, "plain"), "user.unit"))
timed("getfattr user.h5.dtype", lambda: os.getxattr(os.path.join(m, "packed"), "user.h5.dtype"))
timed("cat plain (800 KB)", lambda: open(os.path.join(m, "plain"), "rb").read())
EOF
[ -e "$WORK/held" ] || fail "the hold ended before the gzip read was tried"
cat "$M/packed" >"$WORK/got" || fail "the gzip read failed instead of waiting"
t1=$(date +%s.%N)
wait $HOLDER
"$PY" -c "
import h5py, sys
released = float(open('$WORK/released').read())
print('the gzip read ended %.3f s after the writer began to close' % ($t1 - released))
assert $t1 >= released, 'the gzip read returned during the hold'
with h5py.File('$F', 'r') as f:
    assert open('$WORK/got', 'rb').read() == f['packed'][()].tobytes(), 'not h5py bytes'
" || fail "the gzip read after the hold"
ls "$M" | grep -qx by_writer || fail "the writer's dataset is not shown after the hold"
h5fs_umount "$M"
h5fs_check_log "$M"

say "held longer than lock_timeout: EAGAIN (EBUSY for setxattr), one log line each"
h5fs_mount "$F" "$M" -o lock_timeout=1 || fail "mount"
start_hold 8
t0=$(date +%s)
expect_fail "Resource temporarily unavailable" cat "$M/packed2"
expect_fail "Device or resource busy" setfattr -n user.new -v 1 "$M/plain"
expect_fail "Resource temporarily unavailable" setfattr -x user.unit "$M/plain"
expect_fail "Resource temporarily unavailable" mkdir "$M/newgroup"
t1=$(date +%s)
[ $((t1 - t0)) -le 6 ] || fail "the four give-ups took $((t1 - t0)) s with lock_timeout=1"
ls "$M" >/dev/null || fail "ls during the hold"
wait $HOLDER
"$PY" -c "
import h5py, os
with h5py.File('$F', 'r') as f:
    assert open('$M/packed2', 'rb').read() == f['packed2'][()].tobytes()
" || fail "the gzip read after the hold"
setfattr -n user.after -v 1 "$M/plain" || fail "setxattr after the hold"
h5fs_umount "$M"
n=$(grep -cE "gave up|locked by another program" "$M.log")
[ "$n" -eq 4 ] || { cat "$M.log" >&2; fail "$n give-up lines in the log, expected 4"; }
"$PY" -c "
import h5py
with h5py.File('$F', 'r') as f:
    a = f['plain'].attrs
    assert a['after'] == 1 and a['unit'] == 'm' and 'new' not in a and 'newgroup' not in f
" || fail "h5py check: refused operations changed something"
h5fs_done
