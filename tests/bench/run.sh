#!/bin/sh
# make bench: the daemon's speed against its baselines (README targets).
#
#   1. metadata: a file of NDS datasets in NG groups (default 100000 in
#      1000): `find MOUNT | wc -l` against `h5ls -r FILE` (target <= 0.5x),
#      `ls -lR MOUNT` against `h5ls -r` (target <= 1.0x);
#   2. data: a SIZE MiB contiguous float64 dataset (default 1024): cold
#      `cat` through the mount against h5py's ds[()] (target >= 1.5x the
#      throughput), and a second `cat` from the page cache against plain
#      `cat` of a same-sized file in the page cache (target >= 0.9x).
#   3. tests/bench/reader.sh (the library reader's own bench), if present.
#
# Cold runs drop the page cache (root: /proc/sys/vm/drop_caches; else
# posix_fadvise through python).  Results go to build/bench/results.txt.
#   NDS=100000 NG=1000 SIZE=1024 sh tests/bench/run.sh
set -e
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build}
H5FS=$BUILD/bin/h5fs
PY=${PYTHON:-/usr/bin/python3}
NDS=${NDS:-100000}
NG=${NG:-1000}
SIZE=${SIZE:-1024}
W=$(mktemp -d "${TMPDIR:-/tmp}/h5fs-bench.XXXXXX")
M=$W/mnt
OUT=$BUILD/bench/results.txt
mkdir -p "$M" "$BUILD/bench"
cleanup() {
	mountpoint -q "$M" 2>/dev/null && fusermount3 -u -z "$M"
	rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now() { date +%s.%N; }
secs() { echo "$2 - $1" | bc -l; }
drop() {
	sync
	if [ -w /proc/sys/vm/drop_caches ]; then
		echo 3 > /proc/sys/vm/drop_caches
	else
		"$PY" -c "import os,sys
for p in sys.argv[1:]:
    fd = os.open(p, os.O_RDONLY); os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED); os.close(fd)" "$@"
	fi
}
mount_ro() {
	"$H5FS" "$1" "$M" -o ro,log="$W/log"
	i=0
	until mountpoint -q "$M"; do sleep 0.05; i=$((i + 1)); [ $i -lt 600 ] || exit 1; done
}
report() {
	printf '%-44s %s\n' "$1" "$2" | tee -a "$OUT"
}
: > "$OUT"
echo "h5fs bench $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(uname -r)" | tee -a "$OUT"

# ---- 1. metadata -------------------------------------------------------
F=$W/many.h5
"$PY" - "$F" "$NDS" "$NG" <<'PYEOF'
import sys, h5py, numpy as np
path, nds, ng = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with h5py.File(path, "w", libver="latest") as f:
    per = nds // ng
    a = np.arange(4, dtype="<f8")
    for g in range(ng):
        grp = f.create_group(f"g{g:05d}")
        for d in range(per):
            grp.create_dataset(f"d{d:05d}", data=a)
PYEOF
t0=$(now); h5ls -r "$F" | wc -l >/dev/null; t1=$(now)
h5ls_t=$(secs "$t0" "$t1")
t0=$(now); mount_ro "$F"; t1=$(now)
mount_t=$(secs "$t0" "$t1")
t0=$(now); n=$(find "$M" | wc -l); t1=$(now)
find_t=$(secs "$t0" "$t1")
fusermount3 -u "$M"; sleep 0.5; mount_ro "$F"
t0=$(now); ls -lR "$M" | wc -l >/dev/null; t1=$(now)
lslr_t=$(secs "$t0" "$t1")
fusermount3 -u "$M"; sleep 0.5
report "datasets / groups" "$NDS / $NG ($n entries found)"
report "mount (indexing in a child)" "$(printf '%.2f s' "$mount_t")"
report "h5ls -r" "$(printf '%.2f s' "$h5ls_t")"
report "find MOUNT (cold kernel cache)" "$(printf '%.2f s = %.2fx h5ls (target <= 0.5x)' "$find_t" "$(echo "$find_t / $h5ls_t" | bc -l)")"
report "ls -lR MOUNT (cold kernel cache)" "$(printf '%.2f s = %.2fx h5ls (target <= 1.0x)' "$lslr_t" "$(echo "$lslr_t / $h5ls_t" | bc -l)")"
rm -f "$F"

# ---- 2. data -----------------------------------------------------------
F=$W/big.h5
"$PY" "$ROOT/tests/system/h5fs_fixtures.py" make big "$F" $((SIZE * 1048576))
bytes=$((SIZE * 1048576))
drop "$F"
t0=$(now)
"$PY" -c "import h5py, sys; h5py.File(sys.argv[1], 'r')['data'][()]" "$F"
t1=$(now)
h5py_t=$(secs "$t0" "$t1")
mount_ro "$F"
drop "$F"
t0=$(now); cat "$M/data" > /dev/null; t1=$(now)
cold_t=$(secs "$t0" "$t1")
t0=$(now); cat "$M/data" > /dev/null; t1=$(now)
warm_t=$(secs "$t0" "$t1")
fusermount3 -u "$M"
dd if=/dev/zero of="$W/plain" bs=1M count="$SIZE" status=none
cat "$W/plain" > /dev/null
t0=$(now); cat "$W/plain" > /dev/null; t1=$(now)
plain_t=$(secs "$t0" "$t1")
mib() { echo "$bytes / 1048576 / $1" | bc -l; }
report "h5py ds[()] cold ($SIZE MiB)" "$(printf '%.0f MiB/s' "$(mib "$h5py_t")")"
report "cat MOUNT/data cold" "$(printf '%.0f MiB/s = %.2fx h5py (target >= 1.5x)' "$(mib "$cold_t")" "$(echo "$h5py_t / $cold_t" | bc -l)")"
report "plain cat, page cache" "$(printf '%.0f MiB/s' "$(mib "$plain_t")")"
report "cat MOUNT/data, page cache" "$(printf '%.0f MiB/s = %.2fx plain cat (target >= 0.9x)' "$(mib "$warm_t")" "$(echo "$plain_t / $warm_t" | bc -l)")"
rm -f "$F" "$W/plain"

# ---- 3. the reader's own bench -----------------------------------------
if [ -f "$ROOT/tests/bench/reader.sh" ] && [ -z "$SKIP_READER" ]; then
	(cd "$ROOT" && sh tests/bench/reader.sh "$SIZE") | tee -a "$OUT"
fi
echo "results: $OUT"
