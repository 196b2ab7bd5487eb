"""Walk one mounted corpus file and compare it with h5py (run by t0009).

    python3 h5fs_corpus.py MOUNT FILE

Prints one summary line: objects walked, datasets compared, EIO answers
(expected where h5py cannot read either), mismatches.  Exits 1 on a
mismatch: bytes that differ from what h5py reads, or a read that fails
although h5py reads the dataset.
"""
import errno
import os
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from h5fs_fixtures import escape, _has_vlen  # noqa: E402


def filters_missing(ds):
    """Whether a filter of the dataset is not available to libhdf5."""
    try:
        plist = ds.id.get_create_plist()
        for i in range(plist.get_nfilters()):
            fid = plist.get_filter(i)[0]
            # h5py brings lzf (and may load plugins) in its own process;
            # plain libhdf5 in the daemon has the built-in filters 1-6 only
            if fid not in (1, 2, 3, 4, 5, 6) or not h5py.h5z.filter_avail(fid):
                return True
    except Exception:
        return False
    return False


def same(got, want, dtype):
    """Equal bytes; for compounds field by field (padding may differ)."""
    if got == want:
        return True
    if dtype.names and len(got) == len(want):
        a = np.frombuffer(got, dtype=dtype)
        b = np.frombuffer(want, dtype=dtype)
        return all(a[n].tobytes() == b[n].tobytes() for n in dtype.names)
    return False


def dtype_of(path, rel):
    with h5py.File(path, "r") as f:
        return f[rel].dtype


def native_image(ds):
    """Whether h5py's bytes are the stored byte image (no bit shifting)."""
    def ok(t):
        c = t.get_class()
        if c in (h5py.h5t.INTEGER, h5py.h5t.FLOAT, h5py.h5t.BITFIELD):
            return t.get_precision() == 8 * t.get_size() and t.get_offset() == 0
        if c == h5py.h5t.COMPOUND:
            return all(ok(t.get_member_type(i)) for i in range(t.get_nmembers()))
        if c in (h5py.h5t.ARRAY, h5py.h5t.ENUM):
            return ok(t.get_super())
        return True
    return ok(ds.id.get_type())


def main(mount, path, compare=True):
    walked = compared = eio = bad = 0
    notes = []
    for dirpath, dirnames, filenames in os.walk(mount):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            walked += 1
            try:
                st = os.lstat(p)
                if not os.path.islink(p):
                    for x in os.listxattr(p):
                        try:
                            os.getxattr(p, x)
                        except OSError as e:
                            if e.errno not in (errno.E2BIG, errno.EIO, errno.EOPNOTSUPP, errno.ENODATA):
                                notes.append(f"getxattr {p} {x}: {e}")
            except OSError as e:
                if e.errno != errno.EIO:
                    notes.append(f"{p}: {e}")
                continue
            if not os.path.isfile(p) or os.path.islink(p):
                continue
            rel = "/" + os.path.relpath(p, mount)
            if not compare:
                try:
                    with open(p, "rb") as fh:
                        while fh.read(1 << 20):
                            pass
                except OSError as e:
                    eio += 1
                    if e.errno not in (errno.EIO, errno.EOPNOTSUPP):
                        notes.append(f"{rel}: {e}")
                continue
            try:
                with open(p, "rb") as fh:
                    got = fh.read(64 << 20)
                mount_err = None
            except OSError as e:
                got, mount_err = None, e.errno
            try:
                with h5py.File(path, "r") as f:
                    ds = f[rel]
                    if not isinstance(ds, h5py.Dataset) or ds.shape is None:
                        continue
                    if ds.size * ds.dtype.itemsize > (64 << 20):
                        continue
                    sdt = h5py.check_string_dtype(ds.dtype)
                    if sdt is not None and sdt.length is None:
                        vals = ds.asstr(errors="surrogateescape")[()]
                        flat = [vals] if ds.shape == () else list(np.asarray(vals, dtype=object).ravel())
                        want = "".join(escape(v or "") + "\n" for v in flat).encode(errors="surrogateescape")
                    elif ds.dtype.kind == "O" or h5py.check_vlen_dtype(ds.dtype) is not None \
                            or _has_vlen(ds.dtype):
                        if mount_err is not None:
                            eio += 1
                        continue
                    elif filters_missing(ds) and mount_err is not None:
                        # an optional filter may have been skipped for some
                        # chunks (then the read works and is compared below)
                        eio += 1
                        continue
                    elif not native_image(ds):
                        continue  # h5py converts (n-bit precision, offsets): no byte image to compare
                    else:
                        a = ds[()]
                        want = a.tobytes() if isinstance(a, np.ndarray) else np.asarray(a, dtype=ds.dtype).tobytes()
            except Exception:
                # h5py cannot read it either: an error from the mount is right
                if mount_err is not None:
                    eio += 1
                continue
            if mount_err is not None:
                bad += 1
                notes.append(f"{rel}: mount read failed ({os.strerror(mount_err)}) but h5py reads it")
                continue
            compared += 1
            if not same(got, want, np.dtype(dtype_of(path, rel))):
                bad += 1
                notes.append(f"{rel}: {len(got)} bytes differ from h5py's {len(want)}")
    for n in notes[:10]:
        print("   ", n)
    print(f"walked {walked}, compared {compared}, expected errors {eio}, mismatches {bad}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], "--no-compare" not in sys.argv))
