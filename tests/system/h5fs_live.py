"""A simulation appending to its results file, and a user reading along
through a mount (DESIGN.md section 5).  Run with /usr/bin/python3.

    h5fs_live.py make FILE
        a bamboost-style results file: /data/fields/u (one dataset per
        step), /globals/time (growable, chunked), /mesh/coords (gzip
        chunks, read through libhdf5 by the mount), /.parameters
    h5fs_live.py sim FILE STEPS PERIOD OUT.json [--first N]
        append STEPS steps, one every PERIOD seconds, as bamboost does:
        h5py.File(FILE, 'a'), write, close; no retries.  A step whose open
        or write fails is counted and the simulation goes on.  Writes
        {"steps", "failed", "errors", "step_times"} to OUT.json.
    h5fs_live.py read MOUNT STOPFILE PERIOD OUT.json
        until STOPFILE exists: every PERIOD seconds walk the mount, stat
        and list every entry, read user.h5.* and the parameters, cat the
        newest step, globals/time and the gzip dataset, each checked
        against the bytes the simulation writes.  Writes {"rounds",
        "errors"} to OUT.json (errors: EAGAIN, wrong bytes etc. with text).
    h5fs_live.py check MOUNT FILE STEPS
        the mount and h5py agree on every step: names, bytes, attributes.
"""
import errno
import json
import os
import sys
import time

import h5py
import numpy as np

NODES = 500


def step_data(i):
    return (np.arange(NODES * 2, dtype="<f8").reshape(NODES, 2) + i) * 0.5


def make(path):
    with h5py.File(path, "w") as f:
        p = f.create_group(".parameters")
        p.attrs["E"] = 2.1e11
        p.attrs["nu"] = 0.3
        p.attrs["name"] = "plate"
        f.create_group("data/fields/u")
        g = f.create_group("globals")
        g.create_dataset("time", shape=(0,), maxshape=(None,), chunks=(64,), dtype="<f8")
        m = f.create_group("mesh")
        m.create_dataset("coords", data=np.arange(200000, dtype="<f8").reshape(-1, 2),
                         chunks=(4096, 2), compression="gzip", compression_opts=1)


def sim(path, steps, period, out, first=0):
    failed = 0
    errors = []
    times = []
    t_next = time.monotonic()
    for i in range(first, first + steps):
        t_next += period
        t0 = time.monotonic()
        try:
            with h5py.File(path, "a") as f:
                d = f["data/fields/u"].create_dataset(str(i), data=step_data(i))
                d.attrs["t"] = i * 0.1
                t = f["globals/time"]
                t.resize((i + 1,))
                t[i] = i * 0.1
                f.attrs["last_step"] = i
        except Exception as e:  # no retry: bamboost and h5py do not retry
            failed += 1
            errors.append("step %d: %s" % (i, e))
        times.append(time.monotonic() - t0)
        delay = t_next - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    with open(out, "w") as fo:
        json.dump({"steps": steps, "failed": failed, "errors": errors[:20], "step_times": times}, fo)
    return failed


def read_round(mnt):
    n = 0
    newest = None
    for root, dirs, files in os.walk(mnt):
        for name in dirs + files:
            p = os.path.join(root, name)
            os.lstat(p)
            n += 1
        for name in files:
            p = os.path.join(root, name)
            os.getxattr(p, "user.h5.dtype")
            if root.endswith("fields/u"):
                k = int(name)
                if newest is None or k > newest:
                    newest = k
    os.getxattr(os.path.join(mnt, ".parameters"), "user.E")
    os.listxattr(os.path.join(mnt, ".parameters"))
    for rel in ["globals/time", "mesh/coords"] + (["data/fields/u/%d" % newest] if newest is not None else []):
        with open(os.path.join(mnt, rel), "rb") as fi:
            got = fi.read()
        if got != expected(rel, len(got)):
            raise WrongBytes("%s: %d bytes, not the ones the simulation wrote" % (rel, len(got)))
    return n


class WrongBytes(Exception):
    pass


COORDS = np.arange(200000, dtype="<f8").tobytes()


def expected(rel, size):
    """What the simulation wrote at REL, of SIZE bytes (time grows: any whole prefix)."""
    if rel == "mesh/coords":
        return COORDS
    if rel == "globals/time":
        return (np.arange(size // 8, dtype="<f8") * 0.1).tobytes() if size % 8 == 0 else None
    return step_data(int(rel.rsplit("/", 1)[1])).tobytes()


def reader(mnt, stopfile, period, out):
    rounds = 0
    errors = []
    while not os.path.exists(stopfile):
        t0 = time.monotonic()
        try:
            read_round(mnt)
        except FileNotFoundError:
            pass  # a step appeared and the walk raced it: fine
        except OSError as e:
            errors.append("%s: %s" % (errno.errorcode.get(e.errno, e.errno), e))
        except WrongBytes as e:
            errors.append("wrong bytes: %s" % e)
        rounds += 1
        delay = period - (time.monotonic() - t0)
        if delay > 0:
            time.sleep(delay)
    with open(out, "w") as fo:
        json.dump({"rounds": rounds, "errors": errors[:20], "nerrors": len(errors)}, fo)


def check(mnt, path, steps):
    bad = 0
    with h5py.File(path, "r") as f:
        u = f["data/fields/u"]
        names = sorted(os.listdir(os.path.join(mnt, "data/fields/u")), key=int)
        want = sorted(u.keys(), key=int)
        if names != want or len(names) != steps:
            print("steps in the mount: %d, in the file: %d, expected %d" % (len(names), len(want), steps))
            bad += 1
        for k in want:
            p = os.path.join(mnt, "data/fields/u", k)
            with open(p, "rb") as fi:
                if fi.read() != u[k][()].tobytes():
                    print("step %s: bytes differ" % k)
                    bad += 1
            if os.getxattr(p, "user.t").decode() != repr(float(u[k].attrs["t"])):
                print("step %s: attribute t differs" % k)
                bad += 1
        with open(os.path.join(mnt, "globals/time"), "rb") as fi:
            if fi.read() != f["globals/time"][()].tobytes():
                print("globals/time differs")
                bad += 1
    return bad


def main(argv):
    cmd = argv[1]
    if cmd == "make":
        make(argv[2])
        return 0
    if cmd == "sim":
        first = int(argv[7]) if len(argv) > 7 and argv[6] == "--first" else 0
        sim(argv[2], int(argv[3]), float(argv[4]), argv[5], first)
        return 0
    if cmd == "read":
        reader(argv[2], argv[3], float(argv[4]), argv[5])
        return 0
    if cmd == "check":
        return 1 if check(argv[2], argv[3], int(argv[4])) else 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
