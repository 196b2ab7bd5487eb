#!/bin/sh
# Attributes through a read-write mount (DESIGN.md section 3): setfattr
# creates typed attributes, keeps an existing attribute's type and shape,
# removes; user.h5.* is read-only; XATTR_CREATE/REPLACE; restore onto
# another object; other namespaces; size limits.  Checked with h5py
# after unmounting.
. "$(dirname "$0")/lib.sh"
h5fs_test_init

F=$WORK/a.h5 M=$WORK/mnt
"$PY" -c "
import h5py, numpy as np
with h5py.File('$F', 'w') as f:
    p = f.create_group('params')
    p.attrs['i32'] = np.int32(5)
    p.attrs['vec'] = np.array([1.0, 2.0, 3.0])
    p.attrs['h5.x'] = 1
    f.create_group('other')
    f['d'] = np.arange(4.0)
" || fail "fixture"
h5fs_mount "$F" "$M" || fail "mount"
P=$M/params

say "new attributes: the text decides the type"
setfattr -n user.E -v 2.1e11 "$P" || fail "float"
setfattr -n user.n -v 42 "$P" || fail "int"
setfattr -n user.flag -v true "$P" || fail "bool"
setfattr -n user.arr -v '[1, 2, 3]' "$P" || fail "array"
"$PY" -c "import os; os.setxattr('$P', 'user.s', b'\"42\"')" || fail "quoted string"
setfattr -n user.title -v 'plate with hole' "$P" || fail "text"
setfattr -n user.h5.attr.h5.y -v 3 "$P" || fail "h5.* attribute"
[ "$(getfattr --only-values -n user.E "$P")" = 210000000000.0 ] || fail "E reads back"

say "existing attributes keep type and shape"
setfattr -n user.i32 -v 7 "$P" || fail "int32 set"
expect_fail "Invalid argument" setfattr -n user.i32 -v 7.5 "$P"
expect_fail "Invalid argument" setfattr -n user.vec -v '[1, 2]' "$P"
setfattr -n user.vec -v '[4, 5, 6]' "$P" || fail "vec set"

say "XATTR_CREATE / XATTR_REPLACE"
"$PY" -c "
import os, errno
try:
    os.setxattr('$P', 'user.n', b'1', os.XATTR_CREATE); raise SystemExit('create over existing worked')
except OSError as e:
    assert e.errno == errno.EEXIST, e
try:
    os.setxattr('$P', 'user.nothere', b'1', os.XATTR_REPLACE); raise SystemExit('replace of missing worked')
except OSError as e:
    assert e.errno == errno.ENODATA, e
os.setxattr('$P', 'user.created', b'5', os.XATTR_CREATE)
os.setxattr('$P', 'user.created', b'6', os.XATTR_REPLACE)
" || fail "create/replace flags"

say "remove"
setfattr -n user.gone -v 1 "$P" && setfattr -x user.gone "$P" || fail "remove"
expect_fail "No such attribute" setfattr -x user.gone "$P"

say "user.h5.* is read-only, except the current value"
expect_fail "Operation not permitted" setfattr -n user.h5.dtype -v '<f4' "$M/d"
expect_fail "Operation not permitted" setfattr -x user.h5.dtype "$M/d"
setfattr -n user.h5.dtype -v '<f8' "$M/d" || fail "equal dtype refused"
setfattr -n user.h5.kind -v group "$P" || fail "equal kind refused"

say "other namespaces, limits"
expect_fail "Operation not supported" setfattr -n trusted.x -v 1 "$P"
"$PY" -c "
import os, errno
for name in ('trusted.x', 'security.x'):
    try:
        os.getxattr('$P', name); raise SystemExit(name + ' get worked')
    except OSError as e:
        assert e.errno in (errno.ENODATA, errno.EOPNOTSUPP), e
try:
    os.setxattr('$P', 'user.big', b'x' * 70000); raise SystemExit('70000 bytes accepted')
except OSError as e:
    assert e.errno == errno.E2BIG, e
" || fail "namespaces and limits"

say "getfattr -d | setfattr --restore onto another object"
(cd "$M" && getfattr -d params | sed 's/^# file: params/# file: other/' | setfattr --restore=-) ||
	fail "restore"
[ "$(getfattr -d "$M/params" | tail -n +2)" = "$(getfattr -d "$M/other" | tail -n +2 | sed 's/user.h5.kind="group"/&/')" ] ||
	{ getfattr -d "$M/params" "$M/other"; fail "restored attributes differ"; }

say "attributes of a dataset being created, before its close"
(
	exec 3> "$M/fresh" || exit 1
	printf 'abcd' >&3
	setfattr -n user.unit -v m "$M/fresh" && setfattr -n user.tmp -v 1 "$M/fresh" &&
		setfattr -x user.tmp "$M/fresh" || exit 1
	setfattr -n user.unit -v mm "$M/fresh" || exit 1
	[ "$(getfattr --only-values -n user.unit "$M/fresh")" = mm ] || exit 1
	! setfattr -x user.gone "$M/fresh" 2>/dev/null
) || fail "attributes before the close"

h5fs_umount "$M"
h5fs_check_log "$M" "Invalid argument|computed metadata is read-only|over the 64 KiB limit"
"$PY" -c "
import h5py
with h5py.File('$F', 'r') as f:
    a = f['fresh'].attrs
    assert dict(a) == {'unit': 'mm'}, dict(a)
    assert f['fresh'][()].tobytes() == b'abcd', f['fresh'][()]
print('pending attributes ok')
" || fail "attributes set before the close"

say "h5py sees the types"
"$PY" -c "
import h5py, numpy as np
f = h5py.File('$F', 'r')
a = f['params'].attrs
def chk(name, value, dtype, shape=()):
    v = a[name]
    got = np.asarray(v)
    assert got.dtype == np.dtype(dtype) or (dtype == 'str' and isinstance(v, str)), (name, got.dtype, dtype)
    assert got.shape == shape, (name, got.shape)
    assert np.all(got == value), (name, v, value)
chk('E', 2.1e11, '<f8')
chk('n', 42, '<i8')
chk('flag', True, '|b1')
chk('arr', [1, 2, 3], '<i8', (3,))
chk('s', '42', 'str')
chk('title', 'plate with hole', 'str')
chk('i32', 7, '<i4')
chk('vec', [4.0, 5.0, 6.0], '<f8', (3,))
chk('created', 6, '<i8')
chk('h5.y', 3, '<i8')
assert 'gone' not in a
b = f['other'].attrs
for k in a:
    if isinstance(a[k], str):
        # a string's xattr value is its bare text: '42' comes back as 42
        assert k in b and str(a[k]) == str(b[k]), k
        continue
    assert k in b and np.all(np.asarray(a[k]) == np.asarray(b[k])), k
    # the text decides a new attribute's type: int32 comes back as int64
    assert np.asarray(a[k]).dtype.kind == np.asarray(b[k]).dtype.kind or isinstance(a[k], str), (k, np.asarray(b[k]).dtype)
print('types ok')
" || fail "h5py check"
h5fs_done
