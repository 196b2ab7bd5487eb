#!/bin/sh
# Write-side speed (README "Writes" targets), pairs run ALTERNATELY RUNS
# times (default 5), medians:
#   1. `cp x.npy MOUNT/` of a SIZE MiB (1024) float64 array against h5py
#      writing the same array into a new dataset of the same file
#      (target: cp <= 1.5x h5py's time); the commit is in-process
#      (mpi_threshold=off), the mount is already up;
#   2. setxattr on an existing attribute through the mount (os.setxattr
#      in one Python process, N=200 calls per run, median per call;
#      target < 1 ms).
# Callable on its own or from tests/bench/run.sh.  Results are printed
# and appended to build/bench/results.txt.
#   RUNS=5 SIZE=1024 sh tests/bench/write.sh
set -e
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build}
case "$BUILD" in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
H5FS=$BUILD/bin/h5fs
PY=${PYTHON:-/usr/bin/python3}
SIZE=${SIZE:-1024}
RUNS=${RUNS:-5}
W=$(mktemp -d "${TMPDIR:-/tmp}/h5fs-wbench.XXXXXX")
M=$W/mnt
mkdir -p "$M" "$ROOT/build/bench"
OUT=$ROOT/build/bench/results.txt
trap 'fusermount3 -u "$M" 2>/dev/null || true; rm -rf "$W"' EXIT

now() { date +%s.%N; }
median() { sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

"$PY" -c "
import numpy as np, h5py
n = $SIZE * (1 << 20) // 8
np.save('$W/x.npy', np.arange(n, dtype='<f8'))
h5py.File('$W/a.h5', 'w').close()
"
"$H5FS" "$W/a.h5" "$M" -o mpi_threshold=off,log="$W/log"

: >"$W/cp.t"
: >"$W/h5.t"
for i in $(seq "$RUNS"); do
	sync
	t0=$(now); cp "$W/x.npy" "$M/cp$i.npy"; t1=$(now)
	echo "$t1 - $t0" | awk '{ print $1 - $3 }' >>"$W/cp.t"
	sync
	fusermount3 -u "$M"
	t=$("$PY" -c "
import numpy as np, h5py, time
a = np.load('$W/x.npy', mmap_mode='r')
t0 = time.time()
with h5py.File('$W/a.h5', 'a') as f:
    f.create_dataset('h5$i', data=a)
print(time.time() - t0)
")
	echo "$t" >>"$W/h5.t"
	"$H5FS" "$W/a.h5" "$M" -o mpi_threshold=off,log="$W/log"
done
cp_med=$(median <"$W/cp.t")
h5_med=$(median <"$W/h5.t")

"$PY" -c "
import h5py
with h5py.File('$W/a.h5', 'a') as f:
    f.attrs['E'] = 1.0
" 2>/dev/null || true
fusermount3 -u "$M"
"$PY" -c "
import h5py
with h5py.File('$W/a.h5', 'a') as f:
    f.attrs['E'] = 1.0
"
"$H5FS" "$W/a.h5" "$M" -o log="$W/log"
: >"$W/xa.t"
: >"$W/xl.t"
for i in $(seq "$RUNS"); do
	"$PY" -c "
import os, time, statistics
ts = []
for k in range(200):
    t0 = time.perf_counter(); os.setxattr('$M', 'user.E', str(1.5 + k).encode()); ts.append(time.perf_counter() - t0)
print(statistics.median(ts) * 1000)
" >>"$W/xa.t"
	# the same call on a local file, for scale
	"$PY" -c "
import os, time, statistics
ts = []
open('$W/local', 'w').close()
for k in range(200):
    t0 = time.perf_counter(); os.setxattr('$W/local', 'user.E', str(1.5 + k).encode()); ts.append(time.perf_counter() - t0)
print(statistics.median(ts) * 1000)
" >>"$W/xl.t"
done
xa=$(median <"$W/xa.t")
xl=$(median <"$W/xl.t")
{
	echo "write bench $(date -u +%Y-%m-%dT%H:%MZ) SIZE=${SIZE}MiB RUNS=$RUNS"
	printf '  cp x.npy into the mount  %8.3f s   h5py create_dataset %8.3f s   ratio %.2f (target <= 1.5)\n' \
		"$cp_med" "$h5_med" "$(echo "$cp_med $h5_med" | awk '{ print $1 / $2 }')"
	echo "    runs: cp $(tr '\n' ' ' <"$W/cp.t")  h5py $(tr '\n' ' ' <"$W/h5.t")"
	printf '  setxattr existing attr   %8.3f ms  (local ext4 %.3f ms; target < 1 ms)\n' "$xa" "$xl"
} | tee -a "$OUT"
