#!/bin/sh
# A dataset another program makes anew with another shape and type while
# the mount serves it, and the whole file replaced by another (mv over
# it), DESIGN.md section 5.  A read-write mount never answers with bytes
# read from the new dataset as if it had the old shape: after the
# writer's close a read gives the new bytes or EAGAIN (the tree is being
# read again), and the new bytes within 3 s.  A read-only mount keeps its
# tree: it answers EIO, with one line that says to remount.
. "$(dirname "$0")/lib.sh"
h5fs_test_init

F=$WORK/c.h5 M=$WORK/mnt
"$PY" -c "
import h5py, numpy as np
with h5py.File('$F', 'w') as f:
    f.create_dataset('g', data=np.arange(1000.0), chunks=(100,), compression='gzip')
    f['plain'] = np.arange(10.0)
" || fail "fixture"

# remake.py FILE MODE: g made anew with another shape and type (in place),
# or a new file moved over FILE (replace); prints nothing
cat >"$WORK/remake.py" <<'EOF'
import h5py, numpy as np, os, sys
path, mode = sys.argv[1:3]
new = (np.arange(600, dtype="<i4") * 7).reshape(200, 3)
if mode == "inplace":
    with h5py.File(path, "a") as f:
        del f["g"]
        f.create_dataset("g", data=new, chunks=(50, 3), compression="gzip")
else:
    with h5py.File(path + ".new", "w") as f:
        f.create_dataset("g", data=new[:, :2] + 1, chunks=(50, 2), compression="gzip")
        f["plain"] = np.arange(10.0)
    os.rename(path + ".new", path)
EOF

# after.py MOUNT FILE RW: reads of MOUNT/g until the new bytes come (rw)
# or the read-only answer (EIO); never the wrong bytes
cat >"$WORK/after.py" <<'EOF'
import errno, h5py, os, sys, time
m, path, rw = sys.argv[1], sys.argv[2], sys.argv[3] == "rw"
with h5py.File(path, "r") as f:
    want = f["g"][()].tobytes()
t0 = time.monotonic()
tries = again = 0
while True:
    tries += 1
    try:
        with open(os.path.join(m, "g"), "rb") as fi:
            got = fi.read()
        if got is None:     # Python's buffered read says EAGAIN so
            raise OSError(errno.EAGAIN, "read gave EAGAIN")
    except OSError as e:
        if rw and e.errno == errno.EAGAIN and time.monotonic() - t0 < 3:
            again += 1
            time.sleep(0.05)
            continue
        if not rw and e.errno == errno.EIO:
            print("read-only: EIO after %d tries" % tries)
            sys.exit(0)
        sys.exit("read %d: %s" % (tries, e))
    if got == want:
        if not rw:
            sys.exit("a read-only mount served the new dataset as if it were the old one")
        print("read-write: the new bytes at read %d (%d EAGAIN), %.3f s after the close" %
              (tries, again, time.monotonic() - t0))
        sys.exit(0)
    sys.exit("read %d: %d bytes that are not the new dataset's (%d)" % (tries, len(got), len(want)))
EOF

for how in inplace replace; do
	say "read-write mount, g made anew ($how)"
	h5fs_mount "$F" "$M" || fail "mount"
	cat "$M/g" >/dev/null || fail "first read"
	"$PY" "$WORK/remake.py" "$F" "$how" || fail "remake"
	"$PY" "$WORK/after.py" "$M" "$F" rw || fail "reads after the change ($how)"
	want=$("$PY" -c "import h5py; print(h5py.File('$F', 'r')['g'].nbytes)")
	[ "$(stat -c %s "$M/g")" -eq "$want" ] || fail "size of g after the change ($how)"
	[ "$(getfattr --only-values -n user.h5.dtype "$M/g")" = "<i4" ] || fail "dtype of g after the change ($how)"
	h5fs_umount "$M"
	h5fs_check_log "$M" "changed since the tree was made"
done

say "read-only mount, g made anew"
"$PY" -c "
import h5py, numpy as np
with h5py.File('$F', 'w') as f:
    f.create_dataset('g', data=np.arange(1000.0), chunks=(100,), compression='gzip')
" || fail "fixture again"
h5fs_mount "$F" "$M" -o ro || fail "mount ro"
# (not read before: what the kernel keeps of a read-only mount's pages it serves itself)
"$PY" "$WORK/remake.py" "$F" inplace || fail "remake (ro)"
"$PY" "$WORK/after.py" "$M" "$F" ro || fail "read after the change (ro)"
h5fs_umount "$M"
grep -q "remount to read it (EIO)" "$M.log" || fail "no line says to remount"
h5fs_check_log "$M" "changed since it was mounted"
h5fs_done
