#!/bin/sh
# mkdir, rmdir, rm, rm -r, mv (replace, RENAME_NOREPLACE, RENAME_EXCHANGE),
# ln -s, ln; names HDF5 cannot take; attributes ride along; read-only
# mounts refuse with EROFS.  Checked with h5py after unmounting.
. "$(dirname "$0")/lib.sh"
h5fs_test_init

F=$WORK/a.h5 M=$WORK/mnt
"$PY" -c "
import h5py, numpy as np
with h5py.File('$F', 'w') as f:
    g = f.create_group('g')
    g['x'] = np.arange(5.0); g['x'].attrs['unit'] = 'm'
    g['y'] = np.arange(3, dtype='<i4')
    f.create_group('t/u/v')['w'] = np.zeros(2)
    f['t'].attrs['keep'] = 1
" || fail "fixture"
h5fs_mount "$F" "$M" || fail "mount"

say "mkdir -p, rmdir"
mkdir -p "$M/a/b/c" || fail "mkdir -p"
[ -d "$M/a/b/c" ] || fail "a/b/c missing"
expect_fail "Directory not empty" rmdir "$M/a/b"
rmdir "$M/a/b/c" || fail "rmdir"
expect_fail "File exists" mkdir "$M/a"

say "mv within the file; over an existing name"
mv "$M/g/x" "$M/a/b/x2" || fail "mv"
mv "$M/t" "$M/a/t2" || fail "mv group"
cp "$M/g/y" "$WORK/y.bytes"
mkdir "$M/g/sub" && mv "$M/g/sub" "$M/a/sub2" || fail "mv empty group"
"$PY" -c "
import os, errno, ctypes
os.rename('$M/a/b/x2', '$M/g/y')            # replaces y, as POSIX rename does
libc = ctypes.CDLL(None, use_errno=True)
AT = -100
def rn(a, b, flags):
    r = libc.renameat2(AT, a.encode(), AT, b.encode(), flags)
    return 0 if r == 0 else ctypes.get_errno()
os.mkdir('$M/n1'); os.mkdir('$M/n2')
assert rn('$M/n1', '$M/n2', 1) == errno.EEXIST          # RENAME_NOREPLACE
assert rn('$M/n1', '$M/n3', 1) == 0
assert rn('$M/n3', '$M/n2', 2) == errno.EINVAL          # RENAME_EXCHANGE
os.mkdir('$M/n3/inner')
try:
    os.rename('$M/n2', '$M/n3'); raise SystemExit('dir over non-empty dir')
except OSError as e:
    assert e.errno in (errno.ENOTEMPTY, errno.EEXIST), e
try:
    os.rename('$M/g/y', '$M/n2'); raise SystemExit('file over dir')
except OSError as e:
    assert e.errno == errno.EISDIR, e
" || fail "rename rules"

say "ln -s, ln, rm of links"
ln -s ../g/y "$M/a/soft" || fail "ln -s"
[ "$(readlink "$M/a/soft")" = ../g/y ] || fail "readlink: $(readlink "$M/a/soft")"
cmp "$M/a/soft" "$M/g/y" || fail "soft link reads"
ln "$M/g/y" "$M/a/hard" || fail "ln"
[ "$(stat -c %h "$M/g/y")" = 2 ] || fail "nlink 2"
ln -s ../g/y "$M/a/soft2" && rm "$M/a/soft2" || fail "rm symlink"
expect_fail "Operation not permitted" ln -s /etc/passwd "$M/a/outside"

say "rm, rm -r"
mkdir -p "$M/del/x/y" && cp "$WORK/y.bytes" "$M/del/x/y/f" && rm -r "$M/del" || fail "rm -r"
[ ! -e "$M/del" ] || fail "del still there"
touch "$M/g/z" && rm "$M/g/z" || fail "rm dataset"
expect_fail "Is a directory" rm "$M/a"

say "names HDF5 cannot take"
"$PY" -c "
import os, errno
for bad, want in ((b'$M/bad\xff', errno.EILSEQ), (b'$M/.h5fs-tmp.x', errno.EINVAL)):
    try:
        os.mkdir(bad); raise SystemExit('mkdir %r worked' % bad)
    except OSError as e:
        assert e.errno == want, (bad, e)
os.mkdir('$M/with space #[x]')
os.mkdir('$M/ünï')
" || fail "names"
ls "$M" >/dev/null

say "rename across files: EXDEV"
F2=$WORK/b.h5 M2=$WORK/mnt2
"$PY" -c "import h5py; h5py.File('$F2', 'w').close()"
h5fs_mount "$F2" "$M2" || fail "mount 2"
"$PY" -c "
import os, errno
try:
    os.rename('$M/g/y', '$M2/y'); raise SystemExit('cross rename worked')
except OSError as e:
    assert e.errno == errno.EXDEV, e
" || fail "EXDEV"
h5fs_umount "$M2"

h5fs_umount "$M"
h5fs_check_log "$M" "outside the HDF5 file|not UTF-8|h5fs's own|not supported"

say "h5py sees the tree"
"$PY" -c "
import h5py, numpy as np
f = h5py.File('$F', 'r')
assert isinstance(f['a/b'], h5py.Group) and 'c' not in f['a/b']
assert 'x' not in f['g'] and 'x2' not in f['a/b']
y = f['g/y']
assert y.dtype == np.float64 and list(y[()]) == [0, 1, 2, 3, 4], y[()]
assert y.attrs['unit'] == 'm'                           # attributes ride along
assert f['a/t2'].attrs['keep'] == 1 and f['a/t2/u/v/w'].shape == (2,)
assert 't' not in f and isinstance(f['a/sub2'], h5py.Group)
assert f['a'].get('soft', getlink=True).path == '/g/y'
assert f['a/hard'].id == f['g/y'].id
assert 'soft2' not in f['a'] and 'del' not in f and 'z' not in f['g']
assert 'n3' in f and 'inner' in f['n3'] and 'n1' not in f
assert 'with space #[x]' in f and 'ünï' in f
print('tree ok')
" || fail "h5py check"

say "read-only mount: EROFS"
h5fs_mount "$F" "$M" -o ro || fail "mount ro"
expect_fail "Read-only file system" mkdir "$M/new"
expect_fail "Read-only file system" rm "$M/g/y"
expect_fail "Read-only file system" mv "$M/g/y" "$M/g/y2"
expect_fail "Read-only file system" setfattr -n user.q -v 1 "$M/g"
expect_fail "Read-only file system" sh -c "echo x > '$M/g/new'"
h5fs_umount "$M"
h5fs_done
