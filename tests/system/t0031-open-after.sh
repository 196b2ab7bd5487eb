#!/bin/sh
# "h5py opens the file at any time" (DESIGN.md section 5): right after a
# setxattr, a cp (small, and large enough for the write-once path), a
# replacement by `cat a > b` and an mkdir through the mount have
# returned, h5py (read, and mode 'a' with a write), h5dump and a writer
# in mode 'a' open the file at once, with libhdf5's own locking and no
# retries; twenty rounds.
. "$(dirname "$0")/lib.sh"
h5fs_test_init

F=$WORK/a.h5 M=$WORK/mnt
"$PY" -c "
import h5py, numpy as np
with h5py.File('$F', 'w') as f:
    f['d'] = np.arange(8.0)
np.save('$WORK/small.npy', np.arange(100.0))
np.save('$WORK/large.npy', np.arange(3 << 20, dtype='<f8'))   # 24 MiB: written once, through the sink
np.arange(16.0).tofile('$WORK/sixteen.bin')
" || fail "fixture"
unset HDF5_USE_FILE_LOCKING
h5fs_mount "$F" "$M" || fail "mount"
"$PY" - "$M" "$F" "$WORK" <<'PYEOF' || fail "an open right after a write through the mount failed"
import h5py, os, subprocess, sys
m, path, work = sys.argv[1:4]

def opens(what, i):
    with h5py.File(path, "r") as f:
        f["d"][()]
    with h5py.File(path, "a") as f:
        f.attrs["after_%s" % what] = i
    r = subprocess.run(["h5dump", "-H", path], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if r.returncode:
        sys.exit("h5dump after %s (round %d): %s" % (what, i, r.stderr.decode()[-300:]))

for i in range(20):
    os.setxattr(m, "user.round", str(i).encode())
    opens("setxattr", i)
    subprocess.run(["cp", work + "/small.npy", "%s/small%d.npy" % (m, i)], check=True)
    opens("cp", i)
    if i % 5 == 0:
        subprocess.run(["cp", work + "/large.npy", "%s/large%d.npy" % (m, i)], check=True)
        opens("cp of 24 MiB", i)
    subprocess.run(["bash", "-c", "cat '%s/sixteen.bin' > '%s/d'" % (work, m)], check=True)
    opens("cat > d", i)
    os.mkdir("%s/g%d" % (m, i))
    opens("mkdir", i)
print("20 rounds: every open right after a write through the mount worked")
PYEOF
h5fs_umount "$M"
h5fs_check_log "$M"
"$PY" -c "
import h5py
with h5py.File('$F', 'r') as f:
    assert f.attrs['round'] == 19 and f['d'].shape == (16,) and f['small19'].shape == (100,)
    assert f['large15'].shape == (3 << 20,) and 'g19' in f
    names = []
    f.visit(names.append)
    assert not [n for n in names if '.h5fs-' in n], names
" || fail "h5py check"
h5fs_done
