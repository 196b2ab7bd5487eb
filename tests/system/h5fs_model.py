"""Model-based test of a read-write mount: a seeded random sequence of
operations applied to the mount and to an in-memory model, compared after
every step.  Usage: h5fs_model.py MOUNT SEED STEPS [STATE.json]
(STATE.json: write the model there at the end / compare against it)."""
import errno
import json
import os
import random
import sys


def walk(mnt):
    tree = {}
    for dirpath, dirnames, filenames in os.walk(mnt):
        rel = os.path.relpath(dirpath, mnt)
        rel = "" if rel == "." else rel
        if rel:
            tree[rel] = ("dir", None, attrs(dirpath))
        for f in filenames:
            p = os.path.join(dirpath, f)
            with open(p, "rb") as fh:
                tree[os.path.join(rel, f)] = ("file", fh.read().hex(), attrs(p))
    return tree


def attrs(p):
    return {k: os.getxattr(p, k).decode() for k in os.listxattr(p) if not k.startswith("user.h5.")}


class Model:
    def __init__(self):
        self.t = {}

    def dirs(self):
        return [""] + [k for k, v in self.t.items() if v[0] == "dir"]

    def files(self):
        return [k for k, v in self.t.items() if v[0] == "file"]

    def children(self, d):
        pre = d + "/" if d else ""
        return [k for k in self.t if k.startswith(pre) and "/" not in k[len(pre):]]

    def export(self):
        return {k: (v[0], v[1].hex() if v[1] is not None else None, dict(v[2])) for k, v in self.t.items()}


def run(mnt, seed, steps):
    rnd = random.Random(seed)
    m = Model()
    names = ["a", "b", "c", "d e", "x1", "y2", "zz"]
    for step in range(steps):
        op = rnd.choice(["create", "create", "write", "write", "truncate", "rename", "unlink",
                         "mkdir", "rmdir", "setattr", "rmattr"])
        desc = op
        if op == "create":
            d = rnd.choice(m.dirs())
            p = os.path.join(d, rnd.choice(names))
            if p in m.t:
                continue
            data = bytes(rnd.randrange(256) for _ in range(rnd.randrange(0, 64)))
            with open(os.path.join(mnt, p), "wb") as fh:
                fh.write(data)
            m.t[p] = ["file", bytearray(data), {}]
            desc = f"create {p} {len(data)}"
        elif op == "write" and m.files():
            p = rnd.choice(m.files())
            cur = m.t[p][1]
            off = rnd.randrange(0, len(cur) + 8)
            data = bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 20)))
            fd = os.open(os.path.join(mnt, p), os.O_WRONLY)
            os.pwrite(fd, data, off)
            os.close(fd)
            if off > len(cur):
                cur.extend(b"\0" * (off - len(cur)))
            cur[off:off + len(data)] = data
            desc = f"write {p} @{off} {len(data)}"
        elif op == "truncate" and m.files():
            p = rnd.choice(m.files())
            n = rnd.randrange(0, 80)
            os.truncate(os.path.join(mnt, p), n)
            cur = m.t[p][1]
            if n < len(cur):
                del cur[n:]
            else:
                cur.extend(b"\0" * (n - len(cur)))
            desc = f"truncate {p} {n}"
        elif op == "rename" and len(m.t):
            src = rnd.choice(list(m.t))
            d = rnd.choice(m.dirs())
            dst = os.path.join(d, rnd.choice(names))
            if dst in m.t or dst == src or (dst + "/").startswith(src + "/"):
                continue
            os.rename(os.path.join(mnt, src), os.path.join(mnt, dst))
            moved = {k: v for k, v in m.t.items() if k == src or k.startswith(src + "/")}
            for k, v in moved.items():
                del m.t[k]
                m.t[dst + k[len(src):]] = v
            desc = f"rename {src} {dst}"
        elif op == "unlink" and m.files():
            p = rnd.choice(m.files())
            os.unlink(os.path.join(mnt, p))
            del m.t[p]
            desc = f"unlink {p}"
        elif op == "mkdir":
            d = rnd.choice(m.dirs())
            p = os.path.join(d, rnd.choice(names))
            if p in m.t or p.count("/") > 3:
                continue
            os.mkdir(os.path.join(mnt, p))
            m.t[p] = ["dir", None, {}]
            desc = f"mkdir {p}"
        elif op == "rmdir" and len(m.dirs()) > 1:
            p = rnd.choice(m.dirs()[1:])
            try:
                os.rmdir(os.path.join(mnt, p))
                assert not m.children(p), f"rmdir of non-empty {p} worked"
                del m.t[p]
            except OSError as e:
                assert e.errno == errno.ENOTEMPTY and m.children(p), (p, e)
            desc = f"rmdir {p}"
        elif op == "setattr" and len(m.t):
            p = rnd.choice(list(m.t))
            k, v = "user." + rnd.choice(["k", "t", "v"]), str(rnd.randrange(-1000, 1000))
            cur = m.t[p][2].get(k)
            os.setxattr(os.path.join(mnt, p), k, v.encode())
            m.t[p][2][k] = v
            desc = f"setattr {p} {k}={v} (was {cur})"
        elif op == "rmattr" and len(m.t):
            p = rnd.choice(list(m.t))
            if not m.t[p][2]:
                continue
            k = rnd.choice(list(m.t[p][2]))
            os.removexattr(os.path.join(mnt, p), k)
            del m.t[p][2][k]
            desc = f"rmattr {p} {k}"
        else:
            continue
        got = walk(mnt)
        want = m.export()
        if got != want:
            for k in sorted(set(got) | set(want)):
                if got.get(k) != want.get(k):
                    print(f"  {k}: mount {got.get(k)} model {want.get(k)}", file=sys.stderr)
            raise SystemExit(f"step {step} ({desc}): mount and model differ (seed {seed})")
    return m


def main(argv):
    mnt, seed, steps = argv[1], int(argv[2]), int(argv[3])
    state = argv[4] if len(argv) > 4 else None
    if steps == 0:
        got = walk(mnt)
        want = json.load(open(state))
        want = {k: tuple(v) for k, v in want.items()}
        got = {k: (v[0], v[1], v[2]) for k, v in got.items()}
        if got != want:
            raise SystemExit(f"after remount the mount differs from the model (seed {seed})")
        print("remount matches the model")
        return 0
    try:
        m = run(mnt, seed, steps)
    except (AssertionError, OSError) as e:
        raise SystemExit(f"seed {seed}: {e!r}")
    if state:
        json.dump(m.export(), open(state, "w"))
    print(f"seed {seed}: {steps} steps match the model")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
