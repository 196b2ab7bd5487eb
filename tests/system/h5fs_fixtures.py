"""Fixtures and checks for the h5fs system tests (run with /usr/bin/python3).

    python3 h5fs_fixtures.py make full FILE       every dtype, layout, filter, space
    python3 h5fs_fixtures.py make names FILE      awkward names, dot-groups, case
    python3 h5fs_fixtures.py make loops FILE      soft-link and hard-link loops
    python3 h5fs_fixtures.py make sample FILE     a bamboost-style results file
    python3 h5fs_fixtures.py make big FILE SIZE   one contiguous float64 dataset
    python3 h5fs_fixtures.py check MOUNT FILE [--npy]
        walk FILE with h5py and compare everything with the mount: the
        listing, every dataset's bytes (read, pread at odd offsets,
        numpy.fromfile, numpy.memmap, fromfile+reshape from user.h5.*),
        every attribute as an xattr, soft/external/hard links.
        Prints one line per problem and exits 1 if there were any.
"""
import errno
import json
import os
import sys

import h5py
import numpy as np


def _compact(f, name, data):
    space = h5py.h5s.create_simple(data.shape)
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_layout(h5py.h5d.COMPACT)
    tid = h5py.h5t.py_create(data.dtype)
    d = h5py.h5d.create(f.id, name.encode(), tid, space, dcpl=dcpl)
    d.write(h5py.h5s.ALL, h5py.h5s.ALL, data)


def make_full(path, ext_target=None):
    with h5py.File(path, "w") as f:
        ints = f.create_group("ints")
        for t in ["<i1", "<u1", "<i2", "<u2", "<i4", "<u4", "<i8", "<u8", ">i4", ">u2", ">i8"]:
            info = np.iinfo(np.dtype(t))
            a = (np.arange(37, dtype=t) * np.array(info.max // 37, dtype=t)).astype(t)
            a[0], a[1] = info.min, info.max
            ints[t.replace("<", "le_").replace(">", "be_")] = a
        fl = f.create_group("floats")
        for t in ["<f2", "<f4", "<f8", ">f4", ">f8"]:
            a = np.linspace(-3, 3, 25).astype(t)
            a[0] = np.nan
            a[1] = np.inf
            fl[t.replace("<", "le_").replace(">", "be_")] = a
        fl["complex"] = (np.arange(6) + 1j * np.arange(6)).astype("<c16")
        f["bool"] = np.array([True, False, True, True])
        f["fixed_str"] = np.array([b"alpha", b"be", b"gamma-ray"], dtype="S10")
        f.create_dataset("vlen_str", data=["hello", "w\u00f6rld", "two\nlines", "back\\slash", ""],
                         dtype=h5py.string_dtype())
        f.create_dataset("vlen_str_scalar", data="just one", dtype=h5py.string_dtype())
        f.create_dataset("vlen_str_2d", data=np.array([["a", "bb"], ["ccc", "d"]], dtype=object),
                         dtype=h5py.string_dtype())
        f["compound"] = np.array([(1, 2.5), (3, 4.5), (-7, 1e300)], dtype=[("a", "<i4"), ("b", "<f8")])
        f["nested"] = np.array([((1.0, 2.0), 3), ((4.0, 5.0), 6)],
                               dtype=[("p", [("x", "<f4"), ("y", "<f4")]), ("n", ">i2")])
        f.create_dataset("enum", data=np.array([0, 1, 1, 0, 2], dtype="i1"),
                         dtype=h5py.enum_dtype({"RED": 0, "GREEN": 1, "BLUE": 2}, basetype="i1"))
        arr = f.create_dataset("array", shape=(4,), dtype=np.dtype(("<f4", (3,))))
        arr[...] = np.arange(12, dtype="<f4").reshape(4, 3)
        f["opaque"] = np.frombuffer(b"ABCDEFG" * 3, dtype="V7")
        space = h5py.h5s.create_simple((6,))
        d = h5py.h5d.create(f.id, b"bitfield", h5py.h5t.STD_B8LE, space)
        d.write(h5py.h5s.ALL, h5py.h5s.ALL, np.arange(6, dtype="u1") * 3)

        lay = f.create_group("layouts")
        lay["contiguous"] = np.arange(1000, dtype="<f8").reshape(10, 100)
        lay.create_dataset("chunked", data=np.arange(3000, dtype="<i4").reshape(30, 100), chunks=(7, 13))
        lay.create_dataset("gzip", data=np.arange(5000, dtype="<f8").reshape(50, 100), chunks=(8, 32),
                           compression="gzip", compression_opts=6)
        lay.create_dataset("shuffle_gzip", data=np.arange(4000, dtype=">i8"), chunks=(333,),
                           shuffle=True, compression="gzip")
        lay.create_dataset("fletcher32", data=np.arange(2000, dtype="<u2"), chunks=(100,), fletcher32=True)
        lay.create_dataset("scaleoffset", data=np.arange(3000, dtype="<i4") * 7, chunks=(256,), scaleoffset=0)
        # n-bit integers (precision below the size): read as h5py does,
        # sign-extended, both contiguous and through the n-bit filter
        for name, chunked in (("nbit_contiguous", False), ("nbit_filter", True)):
            tid = h5py.h5t.STD_I32LE.copy()
            tid.set_precision(3)
            dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
            if chunked:
                dcpl.set_chunk((64,))
                dcpl.set_filter(h5py.h5z.FILTER_NBIT)
            d = h5py.h5d.create(lay.id, name.encode(), tid, h5py.h5s.create_simple((200,)), dcpl=dcpl)
            d.write(h5py.h5s.ALL, h5py.h5s.ALL, (np.arange(200, dtype="<i4") % 8) - 4)
        _compact(f, "layouts/compact", np.arange(40, dtype="<i2"))
        un = lay.create_dataset("unallocated", shape=(20, 20), dtype="<f4", chunks=(5, 5), fillvalue=-1.5)
        un[0:5, 5:10] = 3.0
        lay.create_dataset("never_written", shape=(100,), dtype="<i8", fillvalue=42)
        lay.create_dataset("unlimited", data=np.arange(50, dtype="<i4"), maxshape=(None,), chunks=(16,))
        big = lay.create_dataset("huge_extent", shape=(2**32 + 5,), dtype="i1", chunks=(1 << 20,), fillvalue=7)
        big[0:10] = np.arange(10, dtype="i1")

        sp = f.create_group("spaces")
        sp["scalar_f8"] = np.float64(2.75)
        sp["scalar_i4"] = np.int32(-9)
        sp["scalar_fixed_str"] = np.bytes_(b"abc")
        sp["null"] = h5py.Empty("<f8")
        sp["empty"] = np.zeros((0,), dtype="<f8")
        sp["empty_2d"] = np.zeros((3, 0), dtype="<i4")
        sp["rank4"] = np.arange(2 * 3 * 4 * 5, dtype="<i2").reshape(2, 3, 4, 5)

        odd = f.create_group("noimage")
        odd.create_dataset("refs", data=[f.ref, f["bool"].ref], dtype=h5py.ref_dtype)
        vl = odd.create_dataset("vlen_seq", shape=(3,), dtype=h5py.vlen_dtype("<i4"))
        vl[0] = [1, 2]
        vl[1] = [3]
        vl[2] = [4, 5, 6]

        f["types/float_t"] = np.dtype("<f8")

        lk = f.create_group("links")
        lk["soft_abs"] = h5py.SoftLink("/layouts/contiguous")
        lk["soft_grp"] = h5py.SoftLink("/ints")
        lk["soft_rel"] = h5py.SoftLink("target")
        lk["target"] = np.arange(5, dtype="<i4")
        lk["soft_root"] = h5py.SoftLink("/")
        lk["dangling"] = h5py.SoftLink("/no/such/thing")
        lk["hard"] = f["layouts/gzip"]
        lk["ext"] = h5py.ExternalLink(ext_target or "other.h5", "/some/path")

        f.attrs["title"] = "full fixture"
        f.attrs["count"] = np.int64(42)
        f.attrs["pi"] = np.float64(3.141592653589793)
        f.attrs["tenth"] = np.float64(0.1)
        f.attrs["flag"] = np.bool_(True)
        f.attrs["ints"] = np.arange(4, dtype="<i8")
        f.attrs["floats"] = np.array([0.5, 1.5])
        f.attrs["h5.reserved"] = "collides"
        f.attrs["big"] = "x" * 70000
        lay["gzip"].attrs["units"] = "m/s"
        lay["gzip"].attrs["scale"] = np.float32(0.25)


def make_names(path):
    with h5py.File(path, "w") as f:
        for g in [".parameters", ".map", "with space", "hash#name", "brack[0]", "Case", "case",
                  "caSe", "\u00b5m units", "x" * 200]:
            grp = f.create_group(g)
            grp["data"] = np.arange(3, dtype="<i4")
            grp.attrs["name"] = g
        f[".parameters"].attrs["n_steps"] = np.int64(10)
        f["a b c"] = np.arange(4, dtype="<f4")
        f["pct%20s"] = np.arange(2, dtype="<u1")
        f["star*q?"] = np.arange(2, dtype="<u1")


def make_loops(path):
    with h5py.File(path, "w") as f:
        g = f.create_group("g")
        g["d"] = np.arange(3, dtype="<i4")
        f["loop_a"] = h5py.SoftLink("/loop_b")
        f["loop_b"] = h5py.SoftLink("/loop_a")
        f["self"] = h5py.SoftLink("/self")
        g["up"] = h5py.SoftLink("/g")
        # a hard link that makes the group its own descendant, and one to
        # a grandparent; a second name of a group without a cycle
        g["again"] = g
        deep = g.create_group("h/i")
        deep["top"] = g
        f["g2"] = g


def make_sample(path):
    """A small bamboost-style simulation file."""
    with h5py.File(path, "w") as f:
        f.attrs["status"] = "finished"
        f.attrs["created_at"] = "2025-01-01T12:00:00"
        p = f.create_group(".parameters")
        p.attrs["E"] = 210e9
        p.attrs["nu"] = 0.3
        p.attrs["mesh_size"] = np.int64(64)
        p.attrs["solver"] = "newton"
        f.create_group(".map")
        data = f.create_group("data")
        fields = data.create_group("fields")
        t = np.linspace(0, 1, 11)
        x = np.linspace(0, 1, 65)
        u = np.sin(np.pi * x[None, :]) * t[:, None]
        ds = fields.create_dataset("displacement", data=u, chunks=(1, 65), compression="gzip")
        ds.attrs["units"] = "m"
        fields.create_dataset("temperature", data=300 + 10 * u)
        scal = data.create_group("scalars")
        scal["time"] = t
        scal["energy"] = (u ** 2).sum(axis=1)
        mesh = f.create_group("mesh")
        mesh["coordinates"] = x
        mesh["topology"] = np.stack([np.arange(64), np.arange(1, 65)], axis=1).astype("<i8")


def make_big(path, size):
    n = int(size) // 8
    with h5py.File(path, "w") as f:
        ds = f.create_dataset("data", shape=(n,), dtype="<f8")
        step = 1 << 22
        for i in range(0, n, step):
            m = min(step, n - i)
            ds[i:i + m] = np.arange(i, i + m, dtype="<f8")


# ---- checks -----------------------------------------------------------

problems = []


def problem(msg):
    problems.append(msg)
    print("PROBLEM:", msg)


def escape(s):
    return s.replace("\\", "\\\\").replace("\n", "\\n")


def expected_bytes(ds):
    """(kind, bytes): kind 'raw', 'text', 'noimage', 'empty'."""
    dt = ds.id.get_type()
    if ds.shape is None:
        return "empty", b""
    if h5py.check_string_dtype(ds.dtype) and h5py.check_string_dtype(ds.dtype).length is None:
        vals = ds.asstr()[()]
        flat = [vals] if ds.shape == () else list(np.asarray(vals, dtype=object).ravel())
        return "text", "".join(escape(v) + "\n" for v in flat).encode()
    if ds.dtype.kind == "O" or h5py.check_vlen_dtype(ds.dtype) is not None or \
            isinstance(dt, h5py.h5t.TypeReferenceID) or _has_vlen(ds.dtype):
        return "noimage", None
    if ds.size * ds.dtype.itemsize > (64 << 20):
        return "huge", None
    a = ds[()]
    if isinstance(a, np.ndarray):
        return "raw", a.tobytes()
    return "raw", np.asarray(a, dtype=ds.dtype).tobytes()


def _has_vlen(dt):
    if dt.kind == "O":
        return True
    if dt.names:
        return any(_has_vlen(dt.fields[n][0]) for n in dt.names)
    if dt.subdtype:
        return _has_vlen(dt.subdtype[0])
    return False


def read_all(path):
    with open(path, "rb") as fh:
        return fh.read()


def check_dataset(ds, mpath, npy):
    kind, want = expected_bytes(ds)
    st = os.stat(mpath)
    if kind == "huge" and npy:
        return
    if kind == "huge":
        # compare the first and last MiB (1-D) without loading it all
        item = ds.dtype.itemsize
        if st.st_size != ds.size * item:
            problem(f"{mpath}: st_size {st.st_size}, expected {ds.size * item}")
        if len(ds.shape) == 1:
            n = (1 << 20) // item
            fd = os.open(mpath, os.O_RDONLY)
            try:
                for a in (0, ds.shape[0] - n, ds.shape[0] // 2):
                    w = ds[a:a + n].tobytes()
                    if os.pread(fd, len(w), a * item) != w:
                        problem(f"{mpath}: bytes at element {a} differ")
            finally:
                os.close(fd)
        return
    if kind == "noimage":
        try:
            read_all(mpath)
            problem(f"{mpath}: open of a type without byte image succeeded")
        except OSError as e:
            if e.errno not in (errno.EOPNOTSUPP, errno.EIO):
                problem(f"{mpath}: expected EOPNOTSUPP, got {e}")
        return
    if npy and kind == "huge":
        return
    if npy and kind == "raw":
        arr = np.load(mpath)
        ref = ds[()]
        ref = ref if isinstance(ref, np.ndarray) else np.asarray(ref, dtype=ds.dtype)
        if arr.shape != ref.shape or arr.dtype != ref.dtype or arr.tobytes() != ref.tobytes():
            problem(f"{mpath}: numpy.load gives {arr.dtype}{arr.shape}, h5py {ref.dtype}{ref.shape}")
        return
    if st.st_size != len(want):
        problem(f"{mpath}: st_size {st.st_size}, expected {len(want)}")
    got = read_all(mpath)
    if got != want:
        problem(f"{mpath}: {len(got)} bytes differ from h5py's {len(want)} ({kind})")
        return
    if kind != "raw" or not want:
        return
    # pread at odd offsets and sizes crossing element and chunk edges
    fd = os.open(mpath, os.O_RDONLY)
    try:
        for off, n in [(1, 3), (3, 17), (len(want) // 3 + 1, 4097), (len(want) - 5, 100), (len(want), 10)]:
            off = max(0, min(off, len(want)))
            if os.pread(fd, n, off) != want[off:off + n]:
                problem(f"{mpath}: pread({n}, {off}) differs")
    finally:
        os.close(fd)
    dt = ds.dtype
    if np.fromfile(mpath, dtype=dt).tobytes() != want:
        problem(f"{mpath}: numpy.fromfile differs")
    mm = np.memmap(mpath, dtype=dt, mode="r")
    if mm.tobytes() != want:
        problem(f"{mpath}: numpy.memmap differs")
    del mm
    try:
        udt = os.getxattr(mpath, "user.h5.dtype").decode()
        shape = json.loads(os.getxattr(mpath, "user.h5.shape"))
        npdt = np_dtype(json.loads(udt)) if udt.startswith("[") else np.dtype(udt)
        arr = np.fromfile(mpath, dtype=npdt).reshape(tuple(shape) + npdt.shape)
        if arr.tobytes() != want:
            problem(f"{mpath}: fromfile(user.h5.dtype={udt}).reshape({shape}) differs")
    except (OSError, TypeError, ValueError) as e:
        problem(f"{mpath}: dtype/shape xattrs unusable: {e}")


def np_dtype(d):
    """numpy dtype from user.h5.dtype's JSON form."""
    if isinstance(d, str):
        return np.dtype(d)
    if len(d) == 2 and isinstance(d[0], str) and isinstance(d[1], list) and \
            all(isinstance(x, int) for x in d[1]):
        return np.dtype((np_dtype(d[0]), tuple(d[1])))
    fields = []
    for item in d:
        name, t = item[0], np_dtype(item[1])
        fields.append((name, t, tuple(item[2])) if len(item) > 2 else (name, t))
    return np.dtype(fields)


def attr_text_ok(val, text):
    if isinstance(val, bytes):
        return text == val
    if isinstance(val, str):
        return text == val.encode()
    if isinstance(val, (bool, np.bool_)):
        return text == (b"true" if val else b"false")
    if isinstance(val, (int, np.integer)):
        return text == str(int(val)).encode()
    if isinstance(val, (float, np.floating)):
        return float(text) == float(val)
    if isinstance(val, np.ndarray) and val.dtype.kind in "iuf":
        return np.allclose(np.array(json.loads(text)), val)
    return True  # other types: presence only


def check_attrs(obj, mpath):
    try:
        names = set(os.listxattr(mpath, follow_symlinks=False))
    except OSError as e:
        problem(f"{mpath}: listxattr: {e}")
        return
    for k in ["user.h5.kind"]:
        if k not in names:
            problem(f"{mpath}: {k} not listed")
    for name in obj.attrs:
        x = ("user.h5.attr." if name.startswith("h5.") else "user.") + name
        if len(x) > 255:
            continue
        if x not in names:
            problem(f"{mpath}: attribute {name!r} not listed as {x}")
            continue
        try:
            val = obj.attrs[name]
        except Exception:
            continue
        try:
            text = os.getxattr(mpath, x, follow_symlinks=False)
        except OSError as e:
            if e.errno == errno.E2BIG and isinstance(val, (str, bytes)) and len(val) > 65536:
                continue
            problem(f"{mpath}: getxattr {x}: {e}")
            continue
        if not attr_text_ok(val, text):
            problem(f"{mpath}: {x} = {text[:60]!r}, h5py says {str(val)[:60]!r}")


def check(mount, path, npy=False):
    f = h5py.File(path, "r")

    def mname(grp, name):
        obj = grp.get(name, getlink=True)
        if npy and isinstance(obj, h5py.HardLink):
            o = grp.get(name)
            if isinstance(o, h5py.Dataset) and not (h5py.check_string_dtype(o.dtype) and
                                                   h5py.check_string_dtype(o.dtype).length is None) \
                    and expected_bytes(o)[0] in ("raw", "huge"):
                return name + ".npy"
        return name

    def walk(grp, mdir, seen):
        try:
            listed = set(os.listdir(mdir))
        except OSError as e:
            problem(f"{mdir}: listdir: {e}")
            return
        want = {mname(grp, n) for n in grp.keys()}
        if listed != want:
            problem(f"{mdir}: lists {sorted(listed - want)[:5]} extra, {sorted(want - listed)[:5]} missing")
        check_attrs(grp, mdir)
        for name in grp.keys():
            mp = os.path.join(mdir, mname(grp, name))
            link = grp.get(name, getlink=True)
            if isinstance(link, h5py.SoftLink):
                if not os.path.islink(mp):
                    problem(f"{mp}: soft link is not a symlink")
                    continue
                tgt = os.readlink(mp)
                if tgt.startswith("/"):
                    problem(f"{mp}: symlink target {tgt} is absolute")
                obj = grp.get(name)
                if obj is not None and not npy:
                    real = os.path.realpath(mp)
                    rel = os.path.relpath(real, os.path.realpath(mount))
                    want_path = obj.name if link.path.startswith("/") else None
                    if want_path is not None and "/" + (rel if rel != "." else "") != want_path.rstrip("/") \
                            and not (want_path == "/" and rel == "."):
                        # hard-linked objects may carry another name: compare inodes
                        if os.stat(real).st_ino != os.stat(mp).st_ino:
                            problem(f"{mp}: symlink resolves to /{rel}, HDF5 to {want_path}")
                continue
            if isinstance(link, h5py.ExternalLink):
                tgt = os.readlink(mp)
                if tgt != f"{link.filename}::{link.path}":
                    problem(f"{mp}: external link text {tgt!r}")
                continue
            obj = grp[name]
            st = os.lstat(mp)
            if isinstance(obj, h5py.Group):
                if not os.path.isdir(mp):
                    problem(f"{mp}: group is not a directory")
                    continue
                addr = h5py.h5o.get_info(obj.id).addr
                if addr in seen:
                    continue
                seen.add(addr)
                walk(obj, mp, seen)
            elif isinstance(obj, h5py.Dataset):
                info = h5py.h5o.get_info(obj.id)
                if st.st_nlink != info.rc:
                    problem(f"{mp}: st_nlink {st.st_nlink}, HDF5 refcount {info.rc}")
                check_attrs(obj, mp)
                check_dataset(obj, mp, npy)
            elif isinstance(obj, h5py.Datatype):
                if st.st_size != 0 or not (st.st_mode & 0o444):
                    problem(f"{mp}: named datatype should be an empty readable file")
        return

    walk(f, mount, set())
    return 0 if not problems else 1


def main(argv):
    if argv[1] == "make":
        kind, path = argv[2], argv[3]
        if kind == "full":
            make_full(path, *(argv[4:5]))
        elif kind == "names":
            make_names(path)
        elif kind == "loops":
            make_loops(path)
        elif kind == "sample":
            make_sample(path)
        elif kind == "big":
            make_big(path, argv[4])
        else:
            raise SystemExit(f"unknown fixture {kind}")
        return 0
    if argv[1] == "check":
        rc = check(argv[2], argv[3], "--npy" in argv)
        print(f"check: {len(problems)} problem(s)")
        return rc
    raise SystemExit(__doc__)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
