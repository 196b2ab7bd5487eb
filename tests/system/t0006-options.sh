#!/bin/sh
# Options: ro/rw, uid=, gid=, umask=, -s, -d, -h, -V, fstab no-ops, and
# unknown options refused with a message naming them.
. "$(dirname "$0")/lib.sh"
h5fs_test_init

F=$WORK/s.h5 M=$WORK/mnt
"$PY" "$TESTS_DIR/h5fs_fixtures.py" make sample "$F" || fail "fixture"
chmod 0644 "$F"

say "-h lists every option, -V prints the version"
help=$("$H5FS" -h 2>&1) || fail "-h exits non-zero"
for o in uid= gid= umask= view= chunk_cache= idle_close= lock_timeout= follow_external direct_io \
	mpi_threshold= mpi_np= mpiexec= mpi_args= staging_dir= log= "-o ro"; do
	echo "$help" | grep -q -- "$o" || fail "-h does not mention $o"
done
"$H5FS" -V 2>&1 | grep -q 'h5fs version' || fail "-V"

say "unknown options fail the mount and are named"
mkdir -p "$M"
out=$("$H5FS" -f "$F" "$M" -o bogus,also_bogus=1 2>&1)
[ $? -eq 1 ] || fail "unknown option: exit code"
echo "$out" | grep -q 'unknown option(s): bogus, also_bogus=1' || fail "message: $out"
mountpoint -q "$M" && fail "mounted despite an unknown option"
out=$("$H5FS" -f "$F" 2>&1)
[ $? -eq 1 ] || fail "missing mount point: exit code"
out=$("$H5FS" -f "$F" "$M" -o view=tiff 2>&1)
[ $? -eq 1 ] || fail "bad view: exit code"
# bad values are refused, each naming its own option
for o in chunk_cache=-5 chunk_cache=12Q lock_timeout=-1 idle_close=-1 index_timeout=0; do
	out=$(timeout 10 "$H5FS" -f "$F" "$M" -o "$o" 2>&1)
	rc=$?
	mountpoint -q "$M" && { fusermount3 -u "$M"; fail "mounted with $o"; }
	[ $rc -eq 1 ] || fail "$o: exit code $rc"
	echo "$out" | grep -q "bad ${o%%=*}" || fail "$o: message: $out"
done

say "ro, uid, gid, umask, fstab no-ops, -s"
h5fs_mount "$F" "$M" -s -o ro,uid=1234,gid=4321,umask=027,_netdev,nofail,noauto,x-systemd.automount,comment=x \
	|| fail "mount"
[ "$(stat -c '%u %g' "$M/data/fields/displacement")" = "1234 4321" ] || fail "uid/gid"
[ "$(stat -c '%a' "$M/data/fields/displacement")" = 440 ] || fail "file mode $(stat -c '%a' "$M/data/fields/displacement")"
[ "$(stat -c '%a' "$M/data")" = 550 ] || fail "dir mode $(stat -c '%a' "$M/data")"
grep " $M " /proc/mounts | grep -q '[ ,]ro[ ,]' || fail "kernel mount is not ro"
grep " $M " /proc/mounts | grep -q 'fuse.h5fs' || fail "subtype"
h5fs_umount "$M"
h5fs_check_log "$M"

say "rw by default for a writable file; mode follows the file"
h5fs_mount "$F" "$M" || fail "mount rw"
[ "$(stat -c '%a' "$M/data/fields/displacement")" = 644 ] || fail "rw file mode"
[ "$(stat -c '%u' "$M/data")" = "$(id -u)" ] || fail "owner"
grep -q " $M fuse.h5fs rw" /proc/mounts || fail "not mounted rw"
h5fs_umount "$M"
h5fs_check_log "$M"

say "-d logs requests"
h5fs_mount "$F" "$M" -d || fail "mount -d"
ls "$M" >/dev/null
h5fs_umount "$M"
grep -q 'LOOKUP\|READDIR\|unique:' "$M.log" || fail "-d did not log requests"

say "direct_io: every read reaches the daemon; private mmap works, shared mmap is refused"
# a contiguous dataset and one of whole-row chunks, both served by a
# splice from the file (1.5 MiB each)
G=$WORK/stream.h5
"$PY" -c "
import h5py, numpy as np
with h5py.File('$G', 'w') as f:
    f['c'] = np.arange(196608, dtype='<f8')
    f.create_dataset('r', data=np.arange(196608, dtype='>i8').reshape(192, 1024), chunks=(16, 1024))
" || fail "fixture"
# the same 128 KiB read twice: from the page cache the second time
# without direct_io, as two more READ requests with it
reads() {
	h5fs_mount "$G" "$M" -d -o "ro$1" || fail "mount$1"
	for i in 1 2; do
		dd if="$M/c" of=/dev/null bs=64k count=2 status=none || fail "dd$1"
	done
	h5fs_umount "$M"
	grep -c 'opcode: READ ' "$M.log" >"$WORK/nreads"
}
reads ""
n_cached=$(cat "$WORK/nreads")
reads ",direct_io"
n_direct=$(cat "$WORK/nreads")
echo "   READ requests: $n_cached page-cached, $n_direct direct"
[ "$n_direct" -ge 4 ] && [ "$n_direct" -gt "$n_cached" ] || fail "direct_io: $n_direct READs against $n_cached"
h5fs_mount "$G" "$M" -o ro,direct_io || fail "mount direct_io"
"$PY" -c "
import errno, os, h5py, numpy as np
f = h5py.File('$G', 'r')
for name in 'c', 'r':
    d = f[name]
    want = d[()].tobytes()
    path = '$M/' + name
    assert open(path, 'rb').read() == want, name
    fd = os.open(path, os.O_RDONLY)
    # odd offsets and sizes, across chunk boundaries
    for off, size in ((1, 7), (131071, 3), (131000, 300000), (len(want) - 5, 100), (12345, 524289)):
        assert os.pread(fd, size, off) == want[off:off + size], (name, off, size)
    os.close(fd)
    m = np.memmap(path, d.dtype, mode='c', shape=d.shape)
    assert m.tobytes() == want, name
    del m
    try:
        np.memmap(path, d.dtype, mode='r', shape=d.shape)
        raise SystemExit('a shared mapping was allowed')
    except OSError as e:
        assert e.errno == errno.ENODEV, e
" || fail "direct_io reads"
h5fs_umount "$M"
h5fs_check_log "$M"
h5fs_done
