#!/bin/sh
# Living beside a simulation (README "Beside other programs"), pairs run
# ALTERNATELY RUNS times (default 5), medians:
#   1. a simulation appending STEPS steps (default 30) at 5 Hz as bamboost
#      does (h5py mode 'a', write, close): its time per step (open to
#      close) with the file mounted but nobody reading, against the same
#      with a reader walking and reading the mount at 20 Hz (target: at
#      most 1.1x); failed opens are counted (target 0);
#   2. what the short hold costs: a 4 KiB read of an uncached gzip chunk
#      through a mount whose HDF5 handle was closed (idle_close passed:
#      the read reopens the file), against the same with the handle open.
# Callable on its own or from tests/bench/run.sh.  Results are printed
# and appended to build/bench/results.txt.
#   RUNS=5 STEPS=30 sh tests/bench/live.sh
set -e
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build}
case "$BUILD" in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
H5FS=$BUILD/bin/h5fs
PY=${PYTHON:-/usr/bin/python3}
RUNS=${RUNS:-5}
STEPS=${STEPS:-30}
LIVE=$ROOT/tests/system/h5fs_live.py
W=$(mktemp -d "${TMPDIR:-/tmp}/h5fs-lbench.XXXXXX")
M=$W/mnt
mkdir -p "$M" "$ROOT/build/bench"
OUT=$ROOT/build/bench/results.txt
trap 'fusermount3 -u "$M" 2>/dev/null || true; rm -rf "$W"' EXIT

median() { sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
report() { printf '%-46s %s\n' "$1" "$2" | tee -a "$OUT"; }
mount_it() {
	"$H5FS" "$W/run.h5" "$M" -o "log=$W/log$1"
	until mountpoint -q "$M"; do sleep 0.05; done
}

"$PY" "$LIVE" make "$W/run.h5"
mount_it ""
: >"$W/alone.t"
: >"$W/read.t"
failed=0 rounds=0 first=0
# step_median JSON: the median step time, ms; adds the failed opens up
step_median() {
	"$PY" -c "
import json, statistics, sys
d = json.load(open(sys.argv[1]))
print('%.3f %d' % (statistics.median(d['step_times']) * 1e3, d['failed']))" "$1"
}
r=0
while [ "$r" -lt "$RUNS" ]; do
	"$PY" "$LIVE" sim "$W/run.h5" "$STEPS" 0.2 "$W/a.json" --first "$first"
	first=$((first + STEPS))
	set -- $(step_median "$W/a.json")
	echo "$1" >>"$W/alone.t"
	failed=$((failed + $2))
	rm -f "$W/stop"
	"$PY" "$LIVE" read "$M" "$W/stop" 0.05 "$W/r.json" &
	rp=$!
	"$PY" "$LIVE" sim "$W/run.h5" "$STEPS" 0.2 "$W/b.json" --first "$first"
	first=$((first + STEPS))
	touch "$W/stop"
	wait $rp
	set -- $(step_median "$W/b.json")
	echo "$1" >>"$W/read.t"
	failed=$((failed + $2))
	rounds=$((rounds + $("$PY" -c "import json,sys; print(json.load(open(sys.argv[1]))['rounds'])" "$W/r.json")))
	r=$((r + 1))
done
a=$(median <"$W/alone.t")
b=$(median <"$W/read.t")
echo "  runs: alone: $(tr '\n' ' ' <"$W/alone.t")| with a reader: $(tr '\n' ' ' <"$W/read.t")" >>"$OUT"
report "simulation step (open 'a', write, close)" "$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2f ms alone, %.2f ms with a reader at 20 Hz = %.2fx (target <= 1.1x)", a, b, b / a }')"
report "  its failed opens, $((2 * RUNS * STEPS)) steps" "$failed (target 0); the reader made $rounds rounds"
fusermount3 -u "$M"

# ---- the cost of the short hold -------------------------------------------------
# gzip_read OFFSET: one 4 KiB read of mesh/coords (gzip chunks) from a
# fresh descriptor, in ms, on a mount with the chunk cache off and direct
# I/O (every read reaches the daemon and decodes its chunk)
gzip_read() {
	"$PY" -c "
import os, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY)
t = time.monotonic(); os.pread(fd, 4096, int(sys.argv[2])); print('%.3f' % ((time.monotonic() - t) * 1e3))" "$M/mesh/coords" "$1"
}
hold_run() {	# IDLE_CLOSE: median of 9 reads 0.2 s apart
	mount_it ",chunk_cache=0,direct_io,idle_close=$1"
	: >"$W/h.t"
	for i in 1 2 3 4 5 6 7 8 9; do
		gzip_read $((i * 196608 + 4096)) >>"$W/h.t"
		sleep 0.2
	done
	fusermount3 -u "$M"
	median <"$W/h.t"
}
: >"$W/closed.t"
: >"$W/open.t"
r=0
while [ "$r" -lt "$RUNS" ]; do
	hold_run 0.05 >>"$W/closed.t"
	hold_run 60 >>"$W/open.t"
	r=$((r + 1))
done
c=$(median <"$W/closed.t")
o=$(median <"$W/open.t")
echo "  runs: reopened: $(tr '\n' ' ' <"$W/closed.t")| kept open: $(tr '\n' ' ' <"$W/open.t")" >>"$OUT"
report "4 KiB gzip read, the file reopened" "$(awk -v c="$c" -v o="$o" 'BEGIN { printf "%.2f ms, kept open %.2f ms: the reopen costs %.2f ms", c, o, c - o }')"
