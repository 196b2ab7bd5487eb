"""Everyday shell writes into a mount (and sed -i, and a temporary file
moved over a dataset, as editors do), each checked with h5py afterwards
(DESIGN.md sections 4 and 5): a commit that is refused leaves the dataset
exactly as it was before the open.  Run with /usr/bin/python3.

    h5fs_shell.py make FILE      one group of fixture datasets per case
    h5fs_shell.py run MOUNT FILE run every case; one line each; exit 1 on
                                 any problem

Each case gets its own group CASE with
    d    float64 (4, 2), contiguous, attribute unit='m'
    g    int32 (10, 2), chunked (4, 2), gzip, maxshape (None, 2), attribute n=10
    raw  uint8 (16,)
and runs one shell pattern with bytes that fit the dataset's type, or not.
"""
import errno
import os
import subprocess
import sys

import h5py
import numpy as np

CASES = []


def case(name, dataset, fits, expect=None, told=True):
    """Register a case; expect(orig) gives the array it must hold when it fits.
    told: a refusal shows in the exit status (not so where bash's own echo
    writes and bash closes, ignoring what close says: the log says it)."""
    def deco(fn):
        CASES.append((name, dataset, fits, fn, expect, told))
        return fn
    return deco


def fixture(g):
    d = g.create_dataset("d", data=np.arange(8, dtype="<f8").reshape(4, 2))
    d.attrs["unit"] = "m"
    c = g.create_dataset("g", data=np.arange(20, dtype="<i4").reshape(10, 2), chunks=(4, 2),
                         compression="gzip", maxshape=(None, 2))
    c.attrs["n"] = 10
    g.create_dataset("raw", data=np.arange(16, dtype="u1"))


def sh(cmd, **kw):
    """Run a shell command; its exit status (the case decides what it must be)."""
    return subprocess.run(["bash", "-c", cmd], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kw).returncode


F64_3ROWS = np.full((3, 2), 7.5, dtype="<f8").tobytes()


def put(path, data):
    with open(path, "wb") as fo:
        fo.write(data)


# ---- > ------------------------------------------------------------------------

@case("redirect >, fits", "d", True, lambda o: np.full((3, 2), 7.5))
def _(m, tmp):
    put(tmp, F64_3ROWS)
    return sh("cat '%s' > '%s/d'" % (tmp, m))


@case("redirect > of text into float64", "d", False, told=False)
def _(m, tmp):
    return sh("echo '1 2 3' > '%s/d'" % m)


@case("redirect > of text into a growable gzip dataset", "g", False, told=False)
def _(m, tmp):
    return sh("echo '1 2 3' > '%s/g'" % m)


@case("redirect > of text into uint8", "raw", True, lambda o: np.frombuffer(b"1 2 3\n", "u1"))
def _(m, tmp):
    return sh("echo '1 2 3' > '%s/raw'" % m)


# ---- >> -----------------------------------------------------------------------

@case("append >>, a row", "d", True, lambda o: np.vstack([o, np.full((1, 2), 7.5)]))
def _(m, tmp):
    put(tmp, F64_3ROWS[:16])
    return sh("cat '%s' >> '%s/d'" % (tmp, m))


@case("append >>, a row to a growable dataset", "g", True,
      lambda o: np.vstack([o, np.array([[5, 6]], dtype="<i4")]))
def _(m, tmp):
    put(tmp, np.array([5, 6], dtype="<i4").tobytes())
    return sh("cat '%s' >> '%s/g'" % (tmp, m))


@case("append >> of 2 bytes", "d", False, told=False)
def _(m, tmp):
    return sh("echo x >> '%s/d'" % m)


# ---- cat a > b ------------------------------------------------------------------

@case("cat a > b, same size", "d", True, lambda o: np.full((4, 2), 7.5))
def _(m, tmp):
    put(tmp, np.full((4, 2), 7.5, dtype="<f8").tobytes())
    return sh("cat '%s' > '%s/d'" % (tmp, m))


@case("cat a > b, 10 bytes", "d", False)
def _(m, tmp):
    put(tmp, b"0123456789")
    return sh("cat '%s' > '%s/d'" % (tmp, m))


# ---- : > f ----------------------------------------------------------------------

@case(": > f", "d", True, lambda o: np.zeros((0, 2)))
def _(m, tmp):
    return sh(": > '%s/d'" % m)


@case(": > f of a growable dataset", "g", True, lambda o: np.zeros((0, 2), dtype="<i4"))
def _(m, tmp):
    return sh(": > '%s/g'" % m)


# ---- truncate -s --------------------------------------------------------------------

@case("truncate -s 32", "d", True, lambda o: o[:2])
def _(m, tmp):
    return sh("truncate -s 32 '%s/d'" % m)


@case("truncate -s 7", "d", False)
def _(m, tmp):
    return sh("truncate -s 7 '%s/d'" % m)


# ---- dd conv=notrunc ------------------------------------------------------------------

@case("dd conv=notrunc, inside", "d", True,
      lambda o: np.concatenate([o.ravel()[:2], [7.5, 7.5], o.ravel()[4:]]).reshape(4, 2))
def _(m, tmp):
    put(tmp, F64_3ROWS[:16])
    return sh("dd if='%s' of='%s/d' bs=16 seek=1 conv=notrunc status=none" % (tmp, m))


@case("dd conv=notrunc, 3 bytes past the end", "d", False)
def _(m, tmp):
    put(tmp, b"abc")
    return sh("dd if='%s' of='%s/d' bs=1 seek=64 conv=notrunc status=none" % (tmp, m))


# ---- tee ------------------------------------------------------------------------------

@case("tee, fits", "d", True, lambda o: np.full((3, 2), 7.5))
def _(m, tmp):
    put(tmp, F64_3ROWS)
    return sh("tee '%s/d' < '%s' > /dev/null" % (m, tmp))


@case("tee of text", "d", False)
def _(m, tmp):
    return sh("echo abc | tee '%s/d' > /dev/null" % m)


# ---- python open('w') -------------------------------------------------------------------

def py_write(path, data):
    try:
        with open(path, "wb") as fo:
            fo.write(data)
    except OSError as e:
        return e.errno
    return 0


@case("python open('w'), fits", "d", True, lambda o: np.full((3, 2), 7.5))
def _(m, tmp):
    return py_write(m + "/d", F64_3ROWS)


@case("python open('w'), 5 bytes", "d", False)
def _(m, tmp):
    return py_write(m + "/d", b"12345")


# ---- a descriptor duplicated and closed twice ------------------------------------------------

def dup_twice(path, first, second):
    """open(O_TRUNC), write FIRST, dup, close the first (a flush), write SECOND, close."""
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
    if first:
        os.write(fd, first)
    fd2 = os.dup(fd)
    os.close(fd)
    os.write(fd2, second)
    try:
        os.close(fd2)
    except OSError as e:
        return e.errno
    return 0


@case("dup, close, write, close: fits", "d", True, lambda o: np.full((3, 2), 7.5))
def _(m, tmp):
    return dup_twice(m + "/d", b"", F64_3ROWS)


@case("dup, close, write, close: 6 bytes", "d", False)
def _(m, tmp):
    return dup_twice(m + "/d", b"", b"1 2 3\n")


@case("write, dup, close, write, close: 3 more bytes", "d", False)
def _(m, tmp):
    return dup_twice(m + "/d", F64_3ROWS[:16], b"abc")


@case("write, dup, close, write, close: 3 more bytes, growable", "g", False)
def _(m, tmp):
    return dup_twice(m + "/g", np.arange(4, dtype="<i4").tobytes(), b"abc")


@case("bash: exec 3>d, dup to 4, close 3, echo >&4, close 4", "d", False, told=False)
def _(m, tmp):
    return sh("exec 3>'%s/d'; exec 4>&3; exec 3>&-; echo hi >&4; exec 4>&-" % m)


# ---- sed -i, and a temporary file moved over the dataset ---------------------------------------

@case("sed -i, nothing matched", "d", True, lambda o: o)
def _(m, tmp):
    return sh("sed -i s/zzzz/y/ '%s/d'" % m)


@case("sed -i on a growable gzip dataset", "g", True, lambda o: o)
def _(m, tmp):
    return sh("sed -i s/zzzz/y/ '%s/g'" % m)


@case("sed -i five times over (each reads what the last one left)", "g", True, lambda o: o)
def _(m, tmp):
    return sh("for i in 1 2 3 4 5; do sed -i s/zzzz/y/ '%s/g' || exit 1; done" % m)


@case("a temporary file moved over it, fits", "d", True, lambda o: np.full((3, 2), 7.5))
def _(m, tmp):
    put(tmp, F64_3ROWS)
    return sh("cp '%s' '%s/.d.swp' && mv '%s/.d.swp' '%s/d'" % (tmp, m, m, m))


@case("a temporary file of 7 bytes moved over it", "d", False)
def _(m, tmp):
    put(tmp, b"1234567")
    return sh("cp '%s' '%s/.d.swp' && mv '%s/.d.swp' '%s/d'" % (tmp, m, m, m))


# ---- the checks --------------------------------------------------------------------------------

def describe(ds):
    return {
        "dtype": ds.dtype.str, "shape": ds.shape, "maxshape": ds.maxshape, "chunks": ds.chunks,
        "compression": ds.compression, "attrs": {k: ds.attrs[k] for k in ds.attrs},
        "data": ds[()].tobytes(),
    }


def make(path):
    with h5py.File(path, "w") as f:
        for i in range(len(CASES)):
            fixture(f.create_group("c%02d" % i))


def run(mnt, path):
    with h5py.File(path, "r") as f:
        before = {i: describe(f["c%02d/%s" % (i, c[1])]) for i, c in enumerate(CASES)}
        orig = {i: f["c%02d/%s" % (i, c[1])][()] for i, c in enumerate(CASES)}
    bad = 0
    tmp = os.path.join(os.path.dirname(path), "shell-input.bin")
    for i, (name, dsname, fits, fn, expect, told) in enumerate(CASES):
        rc = fn(os.path.join(mnt, "c%02d" % i), tmp)
        with h5py.File(path, "r") as f:
            ds = f["c%02d/%s" % (i, dsname)]
            now = describe(ds)
            problem = None
            if fits:
                want = np.asarray(expect(orig[i]), dtype=ds.dtype)
                if rc != 0:
                    problem = "exit %s" % rc
                elif ds.shape != want.shape or ds[()].tobytes() != want.tobytes():
                    problem = "holds %s %s, expected %s" % (ds.shape, ds[()].ravel()[:6], want.shape)
                elif now["attrs"] != before[i]["attrs"] or now["dtype"] != before[i]["dtype"]:
                    problem = "attributes or dtype changed"
                elif (before[i]["chunks"] is not None and
                      (now["chunks"] is None or now["maxshape"] != before[i]["maxshape"] or
                       now["compression"] != before[i]["compression"])):
                    problem = "creation properties lost: %s" % now
            else:
                for k in before[i]:
                    if now[k] != before[i][k]:
                        problem = "refused, but %s changed (%r -> %r)" % (k, before[i][k], now[k])
                        break
                if not problem and told and rc == 0:
                    problem = "refused, but the program was not told (exit 0)"
            names = []
            f.visit(names.append)
            hidden = [n for n in names if ".h5fs-" in n]
            if hidden and not problem:
                problem = "h5fs's own names left: %s" % hidden
        print("%-60s %s" % (name + (" (fits)" if fits else " (does not fit)"),
                            "FAIL: " + problem if problem else "ok (exit %s)" % rc))
        bad += bool(problem)
    # the dataset the shell could not write is still growable for h5py
    with h5py.File(path, "a") as f:
        g = f["c%02d/g" % [i for i, c in enumerate(CASES) if c[1] == "g" and not c[2]][0]]
        g.resize((11, 2))
        g[10] = [40, 41]
    return bad


def main(argv):
    if argv[1] == "make":
        make(argv[2])
        return 0
    if argv[1] == "run":
        return 1 if run(argv[2], argv[3]) else 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
