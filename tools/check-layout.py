#!/usr/bin/python3
"""The layout rules of the developers' guide, checked on the built objects
and the sources: no call cycle between source files (from nm), no source
file over 1,000 lines, no function over 150 lines, and no FUSE header in
src/lib or src/engine.  Files still over a limit are named in
tools/layout-known.txt (one "path" or "path:function" a line); such an
entry that is no longer needed fails the check too, so the list only
shrinks.

usage: check-layout.py BUILD_DIR
"""
import collections, glob, os, re, subprocess, sys

MAX_FILE, MAX_FUNC = 1000, 150
build = sys.argv[1] if len(sys.argv) > 1 else 'build'
problems = []
known = set()
if os.path.exists('tools/layout-known.txt'):
    for line in open('tools/layout-known.txt'):
        line = line.split('#')[0].strip()
        if line:
            known.add(line)
used = set()

def over(key, what):
    if key in known:
        used.add(key)
    else:
        problems.append(what)

sources = sorted(glob.glob('src/*/*.c'))
for path in sources + sorted(glob.glob('src/*/*.h')):
    text = open(path).read()
    n = text.count('\n')
    if n > MAX_FILE:
        over(path, '%s: %d lines (at most %d)' % (path, n, MAX_FILE))
    if path.startswith(('src/lib/', 'src/engine/')) and re.search(r'#\s*include\s*[<"]fuse', text):
        problems.append('%s: includes a FUSE header' % path)
    if not path.endswith('.c'):
        continue
    # top-level function bodies: a line opening at column 0 with '{' after a signature
    lines = text.split('\n')
    i = 0
    while i < len(lines):
        if lines[i] == '{' and i > 0:
            j = i - 1
            while j > 0 and not re.search(r'\w+\s*\(', lines[j]):
                j -= 1
            m = re.search(r'(\w+)\s*\(', lines[j])
            name = m.group(1) if m else '?'
            k = i + 1
            while k < len(lines) and lines[k] != '}':
                k += 1
            length = k - j + 1
            if length > MAX_FUNC:
                over('%s:%s' % (path, name), '%s: %s() is %d lines (at most %d)' % (path, name, length, MAX_FUNC))
            i = k
        i += 1

# call cycles between files, from the objects' symbol tables
objs = sorted(glob.glob(os.path.join(build, 'obj/src/*/*.o')))
objs = [o for o in objs if os.path.exists(re.sub(r'^.*?obj/', '', o)[:-2] + '.c')]
defs, undefs = {}, {}
for o in objs:
    out = subprocess.run(['nm', o], capture_output=True, text=True, check=True).stdout
    d, u = set(), set()
    for l in out.splitlines():
        p = l.split()
        if len(p) == 3 and p[1] in 'TDBRC':
            d.add(p[2])
        elif len(p) == 2 and p[0] == 'U':
            u.add(p[1])
    defs[o], undefs[o] = d, u
owner = {s: o for o, d in defs.items() for s in d}
graph = collections.defaultdict(set)
for o, u in undefs.items():
    for s in u:
        if s in owner and owner[s] != o:
            graph[o].add(owner[s])
index, low, stack, on, counter = {}, {}, [], set(), [0]
sys.setrecursionlimit(10000)

def strong(v):
    index[v] = low[v] = counter[0]
    counter[0] += 1
    stack.append(v)
    on.add(v)
    for w in graph[v]:
        if w not in index:
            strong(w)
            low[v] = min(low[v], low[w])
        elif w in on:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        comp = []
        while True:
            w = stack.pop()
            on.discard(w)
            comp.append(w)
            if w == v:
                break
        if len(comp) > 1:
            names = sorted(re.sub(r'^.*?obj/', '', c)[:-2] + '.c' for c in comp)
            problems.append('call cycle: ' + ' '.join(names))

for v in objs:
    if v not in index:
        strong(v)
for k in sorted(known - used):
    problems.append('tools/layout-known.txt: %s is within the limits now: remove it' % k)
for p in problems:
    print('layout: ' + p)
print('layout: %d passed, %d failed (%d files, %d objects, %d known over a limit)' %
      (0 if problems else 1, 1 if problems else 0, len(sources), len(objs), len(used)))
sys.exit(1 if problems else 0)
