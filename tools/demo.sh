#!/bin/sh
# make demo: mount a bamboost-style results file and look around.
# Unmounts and cleans up on every exit path.
set -e
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build}
H5FS=$BUILD/bin/h5fs
PY=${PYTHON:-/usr/bin/python3}
[ -x "$H5FS" ] || make -C "$ROOT" all
DIR=$(mktemp -d "${TMPDIR:-/tmp}/h5fs-demo.XXXXXX")
M=$DIR/mnt
cleanup() {
	if mountpoint -q "$M" 2>/dev/null; then
		fusermount3 -u "$M" 2>/dev/null || fusermount3 -u -z "$M"
	fi
	rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step() {
	printf '\n\033[1m$ %s\033[0m\n' "$*"
	sh -c "$*"
}

F=$DIR/results.h5
if [ -x "$BUILD/tools/h5fs-mksample" ]; then
	"$BUILD/tools/h5fs-mksample" "$F"
else
	"$PY" "$ROOT/tests/system/h5fs_fixtures.py" make sample "$F"
fi
mkdir -p "$M"
echo "A simulation's results file, $F, mounted at $M:"
printf '\n\033[1m$ h5fs results.h5 mnt -o ro\033[0m\n'
"$H5FS" "$F" "$M" -o ro
cd "$DIR"
step "ls -la mnt"
step "getfattr -d mnt/.parameters"
# the first dataset under data/fields (one per step in bamboost files)
FIELD=$(cd "$DIR" && find mnt/data/fields -type f | sort | head -n 1)
[ -n "$FIELD" ] || { echo "no field dataset in the sample" >&2; exit 1; }
step "ls -la mnt/data/fields/*"
step "getfattr -d $FIELD"
step "$PY -c \"import os, json, numpy as np
p = '$FIELD'
a = np.fromfile(p, dtype=os.getxattr(p, 'user.h5.dtype').decode())
a = a.reshape(json.loads(os.getxattr(p, 'user.h5.shape')))
print(p, a.dtype, a.shape)
print(a)\""
step "du -ah mnt/data | tail -n 4"
step "fusermount3 -u mnt"

echo
echo "Editing: the same file mounted read-write (the default for a file you may write)."
printf '\n\033[1m$ h5fs results.h5 mnt\033[0m\n'
"$H5FS" "$F" "$M"
PARAM=$(cd "$DIR" && getfattr -d mnt/.parameters 2>/dev/null | sed -n 's/^user\.\([A-Za-z_][A-Za-z0-9_]*\)=.*/\1/p' | grep -v '^h5$' | head -n 1)
PARAM=${PARAM:-E}
step "setfattr -n user.$PARAM -v 2.1e11 mnt/.parameters"
step "$PY -c \"import numpy as np; np.save('strain.npy', np.linspace(0, 1, 12).reshape(4, 3))\""
step "cp strain.npy mnt/data/"
step "ls -la mnt/data"
step "fusermount3 -u mnt"
step "$PY -c \"import h5py
f = h5py.File('results.h5', 'r')
print('$PARAM =', f['.parameters'].attrs['$PARAM'], type(f['.parameters'].attrs['$PARAM']).__name__)
print('data/strain', f['data/strain'].dtype, f['data/strain'].shape)
print(f['data/strain'][()])\""
echo
echo "Done: h5fs exited after the unmount."
