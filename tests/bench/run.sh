#!/bin/sh
# make bench: the daemon's speed against its baselines (README targets).
#
# Method: every pair of commands is run ALTERNATELY (A B A B ...) RUNS
# times (default 5); each side's median time is printed, with the ratio
# of the medians, side by side.  "cold" means the page cache was dropped
# (echo 3 > /proc/sys/vm/drop_caches; as non-root posix_fadvise through
# python) and, for the mount, the daemon was freshly started; the time
# never includes the mount itself, which is reported on its own.
#
#   1. metadata, a file of NDS datasets in NG groups (100000 in 1000):
#      `find MOUNT | wc -l` and `ls -lR MOUNT` on a just-started daemon
#      against `h5ls -r FILE` (targets <= 0.5x and <= 1.0x the time);
#      mount (indexing) time, and mount + find;
#   2. a SIZE MiB (1024) contiguous float64 dataset: cold `cat` through
#      the mount against h5py's f['d'][()] (target >= 1.5x throughput),
#      also as a fraction of a cold plain `cat` of a plain file; a second
#      read from the page cache against plain `cat` of a cached plain
#      file (target >= 0.9x): the second read of a fresh mount, and
#      reads after that;
#   3. chunked (1 MiB chunks) and gzip-1 chunked datasets of SIZE MiB:
#      bytes the daemon read from the .h5 for one 4 KiB read in the
#      middle (/proc/PID/io), cold `cat` against h5py (targets >= 1.5x
#      and >= 1.2x);
#   4. two concurrent cats of two different contiguous datasets against
#      one (target >= 1.6x the bytes per second): cold (with the disk's
#      own ceiling, two plain dd streams against one), with the .h5 in
#      the page cache and the mount fresh (the daemon's throughput, with
#      the cores one cat keeps busy), and from the mount's page cache;
#      the same with -o direct_io (reads bypass the page cache), which
#      also gets a cold cat against h5py;
#   5. writes (tests/bench/write.sh) and living beside a simulation
#      (tests/bench/live.sh: its step time with a reader on the mount,
#      the cost of reopening the file after idle_close).
#
# Files live in a scratch folder under /tmp (about 4.5 GiB) and are
# removed at the end.  Results also go to build/bench/results.txt.
#   RUNS=5 NDS=100000 NG=1000 SIZE=1024 sh tests/bench/run.sh
set -e
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build}
case "$BUILD" in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
H5FS=$BUILD/bin/h5fs
PY=${PYTHON:-/usr/bin/python3}
NDS=${NDS:-100000}
NG=${NG:-1000}
SIZE=${SIZE:-1024}
RUNS=${RUNS:-5}
W=$(mktemp -d "${TMPDIR:-/tmp}/h5fs-bench.XXXXXX")
M=$W/mnt
OUT=$BUILD/bench/results.txt
mkdir -p "$M" "$BUILD/bench"
[ -x "$H5FS" ] || { echo "bench: $H5FS is not built (make all)" >&2; exit 1; }
cleanup() {
	mountpoint -q "$M" 2>/dev/null && fusermount3 -u -z "$M"
	rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now() { date +%s.%N; }
# calc EXPR: floating point through awk (bc is not in Debian's base)
calc() { awk "BEGIN { printf \"%.4f\", $1 }"; }
median() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
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
	"$H5FS" "$1" "$M" -o "ro,log=$W/log${2:+,$2}"
	i=0
	until mountpoint -q "$M"; do sleep 0.05; i=$((i + 1)); [ $i -lt 600 ] || exit 1; done
}
umount_m() {
	fusermount3 -u "$M"
	i=0
	while mountpoint -q "$M"; do sleep 0.05; i=$((i + 1)); [ $i -lt 100 ] || break; done
}
daemon_pid() { pgrep -n -f "^$H5FS $1 $M" || true; }
# timed CMD...: run, print seconds
timed() {
	t0=$(now)
	"$@" >/dev/null
	t1=$(now)
	calc "$t1 - $t0"
}
report() {
	printf '%-46s %s\n' "$1" "$2" | tee -a "$OUT"
}
# pair LABEL-A LABEL-B FUNC-A FUNC-B: alternate RUNS times; print medians
pair() {
	la=$1 lb=$2 fa=$3 fb=$4
	ta= tb=
	r=0
	while [ $r -lt "$RUNS" ]; do
		ta="$ta $($fa)"
		tb="$tb $($fb)"
		r=$((r + 1))
	done
	ma=$(echo "$ta" | median)
	mb=$(echo "$tb" | median)
	echo "  runs: $la:$ta | $lb:$tb" >>"$OUT"
}
mibs() { calc "$BYTES / 1048576 / $1"; }

: > "$OUT"
echo "h5fs bench $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(uname -r), $RUNS alternating runs per pair, medians" | tee -a "$OUT"
echo "command: RUNS=$RUNS NDS=$NDS NG=$NG SIZE=$SIZE sh tests/bench/run.sh" | tee -a "$OUT"

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
h5ls_run() { timed h5ls -r "$F"; }
find_run() {
	t0=$(now); mount_ro "$F"; t1=$(now)
	echo "$(calc "$t1 - $t0")" >>"$W/mounts"
	timed sh -c "find '$M' | wc -l"
	umount_m
}
lslr_run() {
	mount_ro "$F"
	timed ls -lR "$M"
	umount_m
}
h5ls -r "$F" >/dev/null
pair "h5ls -r" "find" h5ls_run find_run
h5ls_t=$ma find_t=$mb
pair "h5ls -r" "ls -lR" h5ls_run lslr_run
h5ls_t2=$ma lslr_t=$mb
mount_t=$(median <"$W/mounts")
mount_ro "$F"; n=$(find "$M" | wc -l); umount_m
report "datasets / groups" "$NDS / $NG ($n entries found)"
report "mount (indexing in a child)" "$(printf '%.2f s' "$mount_t")"
report "h5ls -r FILE" "$(printf '%.2f s' "$h5ls_t")"
report "find MOUNT (daemon just started)" "$(printf '%.2f s = %.2fx h5ls (target <= 0.5x)' "$find_t" "$(calc "$find_t / $h5ls_t")")"
report "mount + find" "$(printf '%.2f s = %.2fx h5ls' "$(calc "$mount_t + $find_t")" "$(calc "($mount_t + $find_t) / $h5ls_t")")"
report "ls -lR MOUNT (daemon just started)" "$(printf '%.2f s = %.2fx h5ls %.2f s (target <= 1.0x)' "$lslr_t" "$(calc "$lslr_t / $h5ls_t2")" "$h5ls_t2")"
report "mount + ls -lR" "$(printf '%.2f s = %.2fx h5ls' "$(calc "$mount_t + $lslr_t")" "$(calc "($mount_t + $lslr_t) / $h5ls_t2")")"
rm -f "$F"

# ---- data files ---------------------------------------------------------
BYTES=$((SIZE * 1048576))
"$PY" - "$W" "$SIZE" <<'PYEOF'
import sys, h5py, numpy as np
d, mib = sys.argv[1], int(sys.argv[2])
n = mib * 1024 * 1024 // 8
step = 16 * 1024 * 1024
for name, kw in (('contig', {}), ('chunked', {'chunks': (131072,)}),
                 ('gzip', {'chunks': (131072,), 'compression': 'gzip', 'compression_opts': 1})):
    with h5py.File(f'{d}/{name}.h5', 'w') as f:
        dsets = [f.create_dataset(x, shape=(n,), dtype='<f8', **kw) for x in (('d', 'e') if name == 'contig' else ('d',))]
        for s in range(0, n, step):
            e = min(n, s + step)
            # smooth data with some noise: compresses, but not to nothing
            x = np.round(np.sin(np.arange(s, e, dtype='<f8') * 1e-4) * 1000, 2)
            for ds in dsets:
                ds[s:e] = x
PYEOF
dd if=/dev/urandom of="$W/plain" bs=1M count="$SIZE" status=none

h5py_cold() { drop; timed "$PY" -c "import h5py, sys; h5py.File(sys.argv[1], 'r')['d'][()]" "$F"; }
mount_cold() { mount_ro "$F"; drop; timed cat "$M/d"; umount_m; }
plain_cold() { drop; timed cat "$W/plain"; }
plain_warm() { cat "$W/plain" >/dev/null; timed cat "$W/plain"; }
mount_warm() { cat "$M/d" >/dev/null; timed cat "$M/d"; }

# ---- 2. contiguous -----------------------------------------------------
F=$W/contig.h5
pair "h5py" "cat MOUNT" h5py_cold mount_cold
h5py_t=$ma cold_t=$mb
pair "plain cat" "cat MOUNT" plain_cold mount_cold
plainc_t=$ma cold2_t=$mb
# the second read of a just-mounted dataset, then reads after that
mount_second() { mount_ro "$F"; cat "$M/d" >/dev/null; timed cat "$M/d"; umount_m; }
pair "plain cat" "cat MOUNT" plain_warm mount_second
plainw_t=$ma second_t=$mb
mount_ro "$F"
cat "$M/d" "$M/d" >/dev/null
pair "plain cat" "cat MOUNT" plain_warm mount_warm
plainw2_t=$ma warm_t=$mb
umount_m
report "h5py f['d'][()], cold ($SIZE MiB contiguous)" "$(printf '%.0f MiB/s' "$(mibs "$h5py_t")")"
report "cat MOUNT/d, cold" "$(printf '%.0f MiB/s = %.2fx h5py (target >= 1.5x)' "$(mibs "$cold_t")" "$(calc "$h5py_t / $cold_t")")"
report "plain cat of a plain file, cold" "$(printf '%.0f MiB/s; cat MOUNT/d %.0f MiB/s = %.2fx of it' "$(mibs "$plainc_t")" "$(mibs "$cold2_t")" "$(calc "$plainc_t / $cold2_t")")"
report "plain cat of a plain file, page cache" "$(printf '%.0f MiB/s' "$(mibs "$plainw_t")")"
report "cat MOUNT/d, page cache, second read" "$(printf '%.0f MiB/s = %.2fx plain cat (target >= 0.9x)' "$(mibs "$second_t")" "$(calc "$plainw_t / $second_t")")"
report "cat MOUNT/d, page cache, later reads" "$(printf '%.0f MiB/s = %.2fx plain cat' "$(mibs "$warm_t")" "$(calc "$plainw2_t / $warm_t")")"
# the same copy from tmpfs, whose page cache holds 4 KiB pages as FUSE's does
if [ -d /dev/shm ] && [ -w /dev/shm ] && [ "$(df -k /dev/shm | awk 'NR == 2 { print $4 }')" -gt $((SIZE * 1024 + 65536)) ]; then
	S=/dev/shm/h5fs-bench-plain.$$
	cp "$W/plain" "$S"
	shm_warm() { timed cat "$S"; }
	mount_ro "$F"
	pair "tmpfs cat" "cat MOUNT" shm_warm mount_warm
	umount_m
	rm -f "$S"
	report "plain cat from tmpfs (4 KiB pages), cached" "$(printf '%.0f MiB/s; cat MOUNT/d = %.2fx of it' "$(mibs "$ma")" "$(calc "$ma / $mb")")"
fi

# ---- 4. concurrency ----------------------------------------------------
# one cat, or two at once (seconds per dataset-sized amount of data), on
# a fresh mount with options $1 (may be empty); $2 = 1: page cache dropped
cats1() { mount_ro "$F" "$1"; [ "$2" != 1 ] || drop; timed cat "$M/d"; umount_m; }
cats2() {
	mount_ro "$F" "$1"; [ "$2" != 1 ] || drop
	t0=$(now); cat "$M/d" >/dev/null & cat "$M/e" >/dev/null; wait; t1=$(now)
	umount_m
	calc "($t1 - $t0) / 2"
}
one_cold() { cats1 "" 1; }
two_cold() { cats2 "" 1; }
one_fresh() { cats1 ""; }
two_fresh() { cats2 ""; }
dio_cold() { cats1 direct_io 1; }
dio_two_cold() { cats2 direct_io 1; }
dio_one() { cats1 direct_io; }
dio_two() { cats2 direct_io; }
one_warm() { timed cat "$M/d"; }
two_warm() { t0=$(now); cat "$M/d" >/dev/null & cat "$M/e" >/dev/null; wait; t1=$(now); calc "($t1 - $t0) / 2"; }
# the disk's own ceiling: two streams of the same plain file against one
half=$((SIZE / 2))
one_disk() { drop; timed dd if="$W/plain" of=/dev/null bs=1M count=$half status=none; }
two_disk() {
	drop
	t0=$(now)
	dd if="$W/plain" of=/dev/null bs=1M count=$half status=none &
	dd if="$W/plain" of=/dev/null bs=1M skip=$half count=$half status=none
	wait
	t1=$(now)
	calc "($t1 - $t0) / 2"
}
# busy cores while CMD runs, from /proc/stat
busy() {
	set -- "$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8, $5 + $6 }' /proc/stat)" "$@"
	s0=$1; shift
	"$@" >/dev/null
	awk -v s0="$s0" -v n="$(nproc)" '/^cpu / { split(s0, a, " "); b = $2 + $3 + $4 + $7 + $8 - a[1]; i = $5 + $6 - a[2]; printf "%.2f", n * b / (b + i) }' /proc/stat
}
# LABEL A B: run the pair A (one) and B (two), report two against one
two_vs_one() {
	pair "one" "two" "$2" "$3"
	report "$1" "$(printf '%.0f vs %.0f MiB/s = %.2fx (target >= 1.6x)' "$(mibs "$mb")" "$(mibs "$ma")" "$(calc "$ma / $mb")")"
}
two_vs_one "two concurrent cats vs one, cold" one_cold two_cold
pair "one dd" "two dd" one_disk two_disk
report "  the disk: two plain streams vs one, cold" "$(printf '%.0f vs %.0f MiB/s = %.2fx' "$(calc "$half / $mb")" "$(calc "$half / $ma")" "$(calc "$ma / $mb")")"
cat "$F" >/dev/null
two_vs_one "two concurrent cats vs one, .h5 cached" one_fresh two_fresh
mount_ro "$F"
report "  cores busy during one cat, .h5 cached" "$(printf '%s of %s' "$(busy cat "$M/d")" "$(nproc)")"
umount_m
mount_ro "$F"; cat "$M/d" "$M/e" >/dev/null
two_vs_one "two concurrent cats vs one, page cache" one_warm two_warm
umount_m
# -o direct_io (streaming: no page cache, one copy fewer)
pair "h5py" "cat MOUNT" h5py_cold dio_cold
report "-o direct_io: cat MOUNT/d, cold" "$(printf '%.0f MiB/s = %.2fx h5py %.0f MiB/s' "$(mibs "$mb")" "$(calc "$ma / $mb")" "$(mibs "$ma")")"
two_vs_one "-o direct_io: two cats vs one, cold" dio_cold dio_two_cold
cat "$F" >/dev/null
two_vs_one "-o direct_io: two cats vs one, .h5 cached" dio_one dio_two
rm -f "$W/contig.h5" "$W/plain"

# ---- 3. chunked --------------------------------------------------------
one_block() {
	# one 4 KiB read in the middle: what the daemon read from the .h5
	# (its /proc/PID/io).  A first read at the start opens the file and
	# loads the daemon's code; then only the .h5 leaves the page cache.
	mount_ro "$F"
	pid=$(daemon_pid "$F")
	dd if="$M/d" of=/dev/null bs=4096 count=1 status=none
	"$PY" -c "import os,sys
fd = os.open(sys.argv[1], os.O_RDONLY); os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)" "$F"
	rb0=$(awk '/^read_bytes/ { print $2 }' "/proc/$pid/io")
	dd if="$M/d" of=/dev/null bs=4096 count=1 skip=$((BYTES / 8192)) status=none
	rb1=$(awk '/^read_bytes/ { print $2 }' "/proc/$pid/io")
	umount_m
	echo "$(( (rb1 - rb0) / 1024 )) KiB read from the .h5 (dataset $SIZE MiB, chunk 1 MiB)"
}
for kind in chunked gzip; do
	F=$W/$kind.h5
	if [ $kind = gzip ]; then target=1.2; else target=1.5; fi
	report "$kind: one 4 KiB read in the middle" "$(one_block)"
	pair "h5py" "cat MOUNT" h5py_cold mount_cold
	report "$kind: h5py f['d'][()], cold" "$(printf '%.0f MiB/s' "$(mibs "$ma")")"
	report "$kind: cat MOUNT/d, cold" "$(printf '%.0f MiB/s = %.2fx h5py (target >= %sx)' "$(mibs "$mb")" "$(calc "$ma / $mb")" "$target")"
	rm -f "$F"
done

# ---- writes: cp of a .npy into the mount, setfattr ---------------------
if [ -z "$NO_WRITE_BENCH" ] && [ -f "$ROOT/tests/bench/write.sh" ]; then
	# write.sh appends its own lines to $OUT
	(cd "$ROOT" && BUILD="$BUILD" RUNS="${RUNS:-5}" SIZE="$SIZE" sh tests/bench/write.sh)
fi

# ---- beside a simulation: its step time with a reader, the cost of the hold ----
if [ -z "$NO_LIVE_BENCH" ] && [ -f "$ROOT/tests/bench/live.sh" ]; then
	(cd "$ROOT" && BUILD="$BUILD" RUNS="${RUNS:-5}" sh tests/bench/live.sh)
fi

# ---- the reader's own bench (library level, optional) -------------------
if [ -n "$READER_BENCH" ] && [ -f "$ROOT/tests/bench/reader.sh" ]; then
	(cd "$ROOT" && sh tests/bench/reader.sh "$SIZE") | tee -a "$OUT"
fi
echo "results: $OUT"
