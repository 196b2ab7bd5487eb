#!/bin/sh
# A SWMR writer (DESIGN.md section 5): h5py appends to a dataset in SWMR
# mode (libver latest, swmr_mode = True, no lock on the file) while the
# mount reads along.  The mount opens the file with SWMR_READ, shows the
# dataset growing without re-indexing, and every read is a prefix of what
# the writer wrote; a mount started while the writer appends works too;
# the writer never fails; at the end the mount shows what h5py reads.
. "$(dirname "$0")/lib.sh"
h5fs_test_init

F=$WORK/swmr.h5 M=$WORK/mnt M2=$WORK/mnt2
"$PY" -c "
import h5py, numpy as np
with h5py.File('$F', 'w', libver='latest') as f:
    f['before'] = np.arange(4.0)
" || fail "fixture"
h5fs_mount "$F" "$M" -d || fail "mount"	# -d: every re-read is logged
cat "$M/before" >/dev/null

"$PY" - "$F" "$WORK" <<'PYEOF' &
import h5py, numpy as np, os, sys, time
path, work = sys.argv[1:3]
f = h5py.File(path, "a", libver="latest")
x = f.create_dataset("x", shape=(0,), maxshape=(None,), chunks=(1000,), dtype="<f8")
z = f.create_dataset("z", shape=(0,), maxshape=(None,), chunks=(1000,), dtype="<f8", compression="gzip")
f.swmr_mode = True
open(work + "/swmr-on", "w").close()
for i in range(40):
    for d in (x, z):
        d.resize(((i + 1) * 1000,))
        d[i * 1000:] = np.arange(i * 1000, (i + 1) * 1000, dtype="<f8")
        d.flush()
    time.sleep(0.1)
f.close()
open(work + "/swmr-done", "w").close()
PYEOF
wp=$!
while [ ! -e "$WORK/swmr-on" ]; do sleep 0.05; done
h5fs_mount "$F" "$M2" || fail "mount while the SWMR writer appends"

"$PY" - "$M" "$M2" "$WORK" <<'PYEOF' || fail "reading along"
import numpy as np, os, sys, time
m, m2, work = sys.argv[1:4]
seen = {}
rounds = grew = 0
while not os.path.exists(work + "/swmr-done"):
    for mnt in (m, m2):
        for name in ("x", "z"):
            p = os.path.join(mnt, name)
            try:
                size = os.stat(p).st_size
                data = open(p, "rb").read()
            except FileNotFoundError:
                continue        # the first mount has not re-read the new datasets yet
            a = np.frombuffer(data, "<f8")
            if not (a == np.arange(len(a))).all():
                sys.exit("%s: not a prefix of what the writer wrote" % p)
            if size < seen.get(p, 0):
                sys.exit("%s shrank from %d to %d" % (p, seen[p], size))
            grew += size > seen.get(p, 0)
            seen[p] = size
    rounds += 1
    time.sleep(0.05)
print("%d rounds, %d growths seen: %s" % (rounds, grew, seen))
if grew < 8:
    sys.exit("the mounts did not show the appends")
PYEOF
wait $wp || fail "the SWMR writer failed"
"$PY" -c "
import h5py, numpy as np, os
with h5py.File('$F', 'r') as f:
    for mnt in ('$M', '$M2'):
        for name in ('x', 'z'):
            a = np.fromfile(os.path.join(mnt, name), '<f8')
            assert a.shape == f[name].shape == (40000,), (mnt, name, a.shape)
            assert (a == f[name][()]).all()
" || fail "the mounts after the writer closed"
h5fs_umount "$M2"
h5fs_umount "$M"
h5fs_check_log "$M" "unique: [0-9]+, error: "	# libfuse's -d trace
h5fs_check_log "$M2"
n=$(grep -c "changed on disk: tree re-read in" "$M.log")
[ "$n" -ge 1 ] || fail "the first mount never re-read the tree"
[ "$n" -le 4 ] || fail "the first mount re-indexed for appends: $n times"
h5fs_done
