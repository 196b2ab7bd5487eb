#!/bin/sh
# External links: symlinks FILE::/path, never followed by default; with
# -o follow_external followed to files inside SOURCE's folder only (the
# target object shows as a directory or file, its data byte-identical to
# h5py's); user.h5.link.NAME.file / .path on the group holding the link;
# the getxattr answers that let ls -l stop asking per file.
. "$(dirname "$0")/lib.sh"
h5fs_test_init

D=$WORK/src
mkdir -p "$D"
"$PY" - "$D" <<'EOF' || fail "fixture"
import h5py, numpy as np, sys
d = sys.argv[1]
with h5py.File(f"{d}/../outside.h5", "w") as f:
    f["d"] = np.arange(5)
with h5py.File(f"{d}/b.h5", "w") as f:
    g = f.create_group("grp")
    g["contig"] = np.arange(1000, dtype="<f8")
    g.create_dataset("gz", data=np.arange(100000, dtype=">i4"), chunks=(1000,), compression="gzip")
    g.attrs["note"] = "in b"
    g["back"] = h5py.ExternalLink("a.h5", "/local")
    g["out"] = h5py.ExternalLink("../outside.h5", "/d")
    g["soft"] = h5py.SoftLink("/grp/contig")
with h5py.File(f"{d}/a.h5", "w") as f:
    f["local"] = np.arange(3, dtype="<i8")
    f["e_grp"] = h5py.ExternalLink("b.h5", "/grp")
    f["e_ds"] = h5py.ExternalLink("b.h5", "/grp/gz")
    f["e_out"] = h5py.ExternalLink("../outside.h5", "/d")
    f["e_abs_out"] = h5py.ExternalLink(f"{d}/../outside.h5", "/d")
    f["e_dotdot"] = h5py.ExternalLink("../src/b.h5", "/grp/contig")
    f["e_missing"] = h5py.ExternalLink("missing.h5", "/x")
    f["e_noobj"] = h5py.ExternalLink("b.h5", "/nothere")
    f["e_self"] = h5py.ExternalLink("a.h5", "/")
EOF
ln -s ../outside.h5 "$D/sneaky.h5"
"$PY" -c "
import h5py, sys
with h5py.File(sys.argv[1], 'a') as f:
    f['e_sneaky'] = h5py.ExternalLink('sneaky.h5', '/d')
" "$D/a.h5" || fail "fixture"
M=$WORK/m

say "default: external links are symlinks, never followed"
h5fs_mount "$D/a.h5" "$M" || fail "mount"
[ -L "$M/e_grp" ] || fail "e_grp is not a symlink"
[ "$(readlink "$M/e_grp")" = "b.h5::/grp" ] || fail "readlink e_grp: $(readlink "$M/e_grp")"
[ "$(getfattr --only-values -n user.h5.link.e_grp.file "$M")" = "b.h5" ] || fail "link.e_grp.file"
[ "$(getfattr --only-values -n user.h5.link.e_grp.path "$M")" = "/grp" ] || fail "link.e_grp.path"
getfattr -d "$M" | grep -q 'user.h5.link.e_missing.file="missing.h5"' || fail "getfattr -d lists link xattrs"
expect_fail "No such attribute" getfattr -n user.h5.link.local.file "$M"
expect_fail "No such attribute" getfattr -n user.h5.link.nothere.file "$M"
# no security labels or ACLs: "not supported", so ls -l asks once per mount
expect_fail "Operation not supported" getfattr -n security.selinux "$M/local"
expect_fail "No such attribute" getfattr -n trusted.x "$M/local"
h5fs_umount "$M"
h5fs_check_log "$M"

say "-o follow_external"
h5fs_mount "$D/a.h5" "$M" -o ro,follow_external || fail "mount follow_external"
[ -d "$M/e_grp" ] && [ ! -L "$M/e_grp" ] || fail "e_grp is not a directory"
[ -f "$M/e_ds" ] && [ ! -L "$M/e_ds" ] || fail "e_ds is not a file"
[ -f "$M/e_dotdot" ] || fail "e_dotdot (../src/b.h5, inside after realpath) not followed"
for l in e_out e_abs_out e_missing e_noobj e_self e_sneaky; do
	[ -L "$M/$l" ] || fail "$l should stay a symlink"
done
[ -L "$M/e_grp/out" ] || fail "e_grp/out (outside) should stay a symlink"
[ "$(getfattr --only-values -n user.note "$M/e_grp")" = "in b" ] || fail "attribute of the followed group"
[ "$(getfattr --only-values -n user.h5.link.e_grp.path "$M")" = "/grp" ] || fail "link.e_grp.path when followed"
[ "$(getfattr --only-values -n user.h5.link.out.file "$M/e_grp")" = "../outside.h5" ] || fail "link.out.file"
[ "$(readlink "$M/e_grp/soft")" = "contig" ] || fail "soft link in the external file: $(readlink "$M/e_grp/soft")"
"$PY" - "$D" "$M" <<'EOF' || fail "external data differs from h5py"
import h5py, numpy as np, sys
d, m = sys.argv[1:]
with h5py.File(f"{d}/b.h5", "r") as f:
    for mp, hp in (("e_ds", "grp/gz"), ("e_grp/gz", "grp/gz"), ("e_grp/contig", "grp/contig"),
                   ("e_dotdot", "grp/contig")):
        want = f[hp][()].tobytes()
        got = open(f"{m}/{mp}", "rb").read()
        assert got == want, mp
        # a read in the middle (chunked: one chunk)
        with open(f"{m}/{mp}", "rb") as fh:
            fh.seek(len(want) // 2 + 3)
            assert fh.read(4099) == want[len(want) // 2 + 3:len(want) // 2 + 3 + 4099], mp
with h5py.File(f"{d}/a.h5", "r") as f:
    assert open(f"{m}/e_grp/back", "rb").read() == f["local"][()].tobytes()
EOF
[ "$(stat -c %i "$M/e_ds")" = "$(stat -c %i "$M/e_grp/gz")" ] || fail "one object, one inode"
[ "$(stat -c %i "$M/local")" = "$(stat -c %i "$M/e_grp/back")" ] || fail "a link back into SOURCE shares the inode"
find "$M" >/dev/null 2>&1
ls -laR "$M" >/dev/null 2>&1
h5fs_umount "$M"
grep -q "external link '/e_out': not followed: .* lies outside" "$M.log" || fail "no log line for e_out"
grep -q "external link '/e_sneaky': not followed: .* lies outside" "$M.log" || fail "no log line for e_sneaky"
h5fs_check_log "$M" "external link '.*': not followed"

say "follow_external mounts are read-only"
"$H5FS" "$D/a.h5" "$M" -o rw,follow_external 2>"$WORK/err" && fail "-o rw,follow_external mounted"
grep -q "follow_external" "$WORK/err" || fail "no message for rw,follow_external"

h5fs_done
