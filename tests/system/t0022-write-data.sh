#!/bin/sh
# Data through a mount (DESIGN.md section 4): cp of .npy and raw files,
# touch, cat > existing, dd conv=notrunc (unaligned), truncate of an
# extendible chunked dataset, writes past a non-extendible dataset, cp -a /
# rsync -aX / tar round trips out of one mount and into another, chmod,
# chown.  Checked with h5py after unmounting.
. "$(dirname "$0")/lib.sh"
h5fs_test_init

F=$WORK/a.h5 M=$WORK/mnt
"$PY" -c "
import h5py, numpy as np
with h5py.File('$F', 'w') as f:
    g = f.create_group('g')
    d = g.create_dataset('existing', data=np.arange(12, dtype='<f8').reshape(6, 2))
    d.attrs['unit'] = 'Pa'
    g.create_dataset('ext', data=np.arange(12, dtype='<i4').reshape(6, 2), maxshape=(None, 2), chunks=(2, 2))
    g.create_dataset('bytes', data=np.arange(100, dtype='u1'))
    g.create_dataset('packed', data=np.arange(10, dtype='<i4'), compression='gzip')
np.save('$WORK/x.npy', np.arange(24, dtype='<i2').reshape(2, 3, 4))
np.save('$WORK/xf.npy', np.asfortranarray(np.arange(6.0).reshape(2, 3)))
open('$WORK/raw.bin', 'wb').write(bytes(range(256)) * 3)
np.arange(4, dtype='<f8').tofile('$WORK/new.bin')
" || fail "fixture"
h5fs_mount "$F" "$M" || fail "mount"
G=$M/g

say "cp in: npy, raw; touch"
cp "$WORK/x.npy" "$WORK/xf.npy" "$WORK/raw.bin" "$G/" || fail "cp"
[ -f "$G/x" ] && [ ! -e "$G/x.npy" ] || fail "x.npy did not become x"
# the close returns once the kernel forgot the old name (it raced the notifier: 5 of 1,300 under load)
mkdir "$G/many" || fail "mkdir many"
i=0
while [ $i -lt 60 ]; do
	i=$((i + 1))
	cp "$WORK/x.npy" "$G/many/x$i.npy" || fail "cp x$i.npy"
	[ -f "$G/many/x$i" ] && [ ! -e "$G/many/x$i.npy" ] || fail "x$i.npy was still there after its close"
done
rm -r "$G/many" && [ ! -e "$G/many" ] || fail "rm -r many"
[ "$(getfattr --only-values -n user.h5.shape "$G/x")" = "[2, 3, 4]" ] || fail "x shape"
touch "$G/empty" || fail "touch"
[ "$(stat -c %s "$G/empty")" = 0 ] || fail "empty size"

say "cat > existing keeps dtype, trailing dims, attributes"
cat "$WORK/new.bin" > "$G/existing" || fail "cat >"
[ "$(getfattr --only-values -n user.h5.shape "$G/existing")" = "[2, 2]" ] || fail "existing shape"

say "dd conv=notrunc, unaligned"
printf 'ABC' | dd of="$G/bytes" bs=1 seek=7 conv=notrunc status=none || fail "dd"
printf '\377\377' | dd of="$G/packed" bs=1 seek=5 conv=notrunc status=none || fail "dd gzip"

say "truncate an extendible chunked dataset in place; past a fixed one"
truncate -s 40 "$G/ext" || fail "truncate shrink"
truncate -s 64 "$G/ext" || fail "truncate grow"
truncate -s 7 "$G/packed" && fail "7 bytes of <i4 accepted" 
printf 'xyz' >> "$G/bytes" || fail "append to a fixed dataset (replaced)"

say "cp out and back"
cp "$G/x" "$WORK/x.out" && cmp "$WORK/x.out" "$G/x" || fail "cp out"

say "chmod and chown are accepted and ignored"
chmod 600 "$G/x" || fail "chmod"
chown "$(id -u):$(id -g)" "$G/x" || fail "chown"
[ "$(stat -c %a "$G/x")" = 644 ] || [ "$(stat -c %a "$G/x")" = 664 ] || fail "mode changed"

h5fs_umount "$M"
h5fs_check_log "$M" "refused: .*; nothing changed"

say "h5py sees the data"
"$PY" -c "
import h5py, numpy as np
f = h5py.File('$F', 'r')
g = f['g']
x = g['x']; ref = np.load('$WORK/x.npy')
assert x.dtype == ref.dtype and x.shape == ref.shape and (x[()] == ref).all()
xf = g['xf']; ref = np.load('$WORK/xf.npy')
assert xf.shape == ref.shape and (xf[()] == ref).all(), xf[()]
r = g['raw.bin']; assert r.dtype == np.uint8 and r.shape == (768,) and bytes(r[()]) == open('$WORK/raw.bin', 'rb').read()
e = g['empty']; assert e.shape == (0,)
ex = g['existing']; assert ex.dtype == np.float64 and ex.shape == (2, 2) and list(ex[()].ravel()) == [0, 1, 2, 3]
assert ex.attrs['unit'] == 'Pa'
b = bytes(g['bytes'][()]); want = bytearray(range(100)); want[7:10] = b'ABC'; want += b'xyz'
assert b == bytes(want), b
p = g['packed']; want = np.arange(10, dtype='<i4'); raw = bytearray(want.tobytes()); raw[5:7] = b'\xff\xff'
assert p[()].tobytes() == bytes(raw) and p.compression == 'gzip'
t = g['ext']; assert t.shape == (8, 2) and t.chunks == (2, 2)
assert list(t[()].ravel()) == list(range(10)) + [0] * 6, t[()]
print('data ok')
" || fail "h5py check"

say "round trips: cp -a, rsync -aX, tar out of one mount and into another"
F2=$WORK/b.h5 M2=$WORK/mnt2
"$PY" -c "import h5py; h5py.File('$F2', 'w').close()"
h5fs_mount "$F" "$M" || fail "mount a"
h5fs_mount "$F2" "$M2" || fail "mount b"
cp -a "$M/g" "$WORK/tree" || fail "cp -a out"
getfattr -n user.h5.dtype "$WORK/tree/x" >/dev/null || fail "xattrs did not come out"
cp -a "$WORK/tree" "$M2/cpa" 2>"$WORK/cp.err" || { cat "$WORK/cp.err"; fail "cp -a in"; }
[ -s "$WORK/cp.err" ] && { cat "$WORK/cp.err"; fail "cp -a in complained"; }
if command -v rsync >/dev/null; then
	rsync -aX "$WORK/tree/" "$M2/rsync/" || fail "rsync -aX in"
fi
(cd "$WORK" && tar --xattrs --xattrs-include='user.*' -cf tree.tar tree) || fail "tar c"
mkdir "$M2/tar" && tar --xattrs --xattrs-include='user.*' -xf "$WORK/tree.tar" -C "$M2/tar" || fail "tar x"
h5fs_umount "$M2"
h5fs_umount "$M"
h5fs_check_log "$M2"
"$PY" -c "
import h5py, numpy as np, os
a = h5py.File('$F', 'r')['g']
b = h5py.File('$F2', 'r')
roots = ['cpa', 'tar/tree'] + (['rsync'] if os.path.isdir('$WORK/tree') and '$(command -v rsync)' else [])
for root in roots:
    for name, d in a.items():
        if name == 'packed':
            pass
        e = b[root][name]
        assert e.dtype == d.dtype and e.shape == d.shape, (root, name, e.dtype, d.dtype, e.shape, d.shape)
        assert e[()].tobytes() == d[()].tobytes(), (root, name)
        for k, v in d.attrs.items():
            assert k in e.attrs and str(e.attrs[k]) == str(v), (root, name, k)
print('round trips ok:', roots)
" || fail "round trips"
say "n-bit integers (3 bits at bit offset 2): read sign-extended, written back converted"
G=$WORK/nbit.h5
"$PY" -c "
import h5py, numpy as np
with h5py.File('$G', 'w') as f:
    tid = h5py.h5t.STD_I32LE.copy(); tid.set_precision(3); tid.set_offset(2)
    d = h5py.h5d.create(f.id, b'n', tid, h5py.h5s.create_simple((16,)))
    d.write(h5py.h5s.ALL, h5py.h5s.ALL, (np.arange(16, dtype='<i4') % 8) - 4)
" || fail "fixture"
h5fs_mount "$G" "$M" -o mpi_threshold=off || fail "mount nbit"
"$PY" -c "
import numpy as np
a = np.fromfile('$M/n', '<i4')
assert (a == (np.arange(16) % 8) - 4).all(), a
with open('$M/n', 'r+b') as fh:
    fh.seek(4)
    fh.write(np.array([3, -1, 2], '<i4').tobytes())
" || fail "n-bit read or write"
h5fs_umount "$M"
"$PY" -c "
import h5py, numpy as np
want = (np.arange(16) % 8) - 4
want[1:4] = [3, -1, 2]
got = h5py.File('$G', 'r')['n'][()]
assert (got == want).all(), got
" || fail "n-bit values after the commit"
say "sed -i twice, at once, with a slow notifier: the second reads what the first left"
# The kernel's entry of the moved name leads to the temporary's inode until
# the notifier makes it forget; requests on that inode go to the dataset.
# Without that the second sed read 0 bytes and emptied the dataset.
S=$WORK/sed.h5 SM=$WORK/sedmnt
"$PY" -c "
import h5py, numpy as np
with h5py.File('$S', 'w') as f:
    f['t'] = np.frombuffer(b'hello world, hello moon\\n', dtype='u1')
" || fail "sed fixture"
H5FS_INVAL_DELAY=0.5 h5fs_mount "$S" "$SM" -o rw || fail "mount with a slow notifier"
for e in s/o/0/ s/l/L/ s/e/E/ s/w/W/; do
	sed -i "$e" "$SM/t" || fail "sed -i $e"
done
h5fs_umount "$SM"
"$PY" -c "
import h5py
with h5py.File('$S', 'r') as f:
    got = f['t'][()].tobytes()
assert got == b'hELl0 World, hello moon\\n', got
print('sed ok', got)
" || fail "sed -i twice at once"
h5fs_done
