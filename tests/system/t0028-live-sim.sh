#!/bin/sh
# A running simulation (DESIGN.md section 5): a separate process appends
# 100 steps at 5 Hz as bamboost does (h5py mode 'a', write, close, no
# retries) while a user walks and reads the mount at 20 Hz: not one open
# of the simulation may fail, the reader sees no error, and the mount
# shows all 100 steps afterwards, byte for byte as h5py reads them.
# Then the same for a read-only mount (which keeps its tree).
. "$(dirname "$0")/lib.sh"
h5fs_test_init

F=$WORK/run.h5 M=$WORK/mnt LIVE=$TESTS_DIR/h5fs_live.py
"$PY" "$LIVE" make "$F" || fail "fixture"

run_pair() {	# STEPS FIRST TAG: the simulation and the reader side by side
	rm -f "$WORK/stop"
	"$PY" "$LIVE" read "$M" "$WORK/stop" 0.05 "$WORK/read-$3.json" &
	rp=$!
	"$PY" "$LIVE" sim "$F" "$1" 0.2 "$WORK/sim-$3.json" --first "$2" || fail "simulation ($3)"
	touch "$WORK/stop"
	wait $rp || fail "reader ($3)"
	"$PY" - "$WORK/sim-$3.json" "$WORK/read-$3.json" "$3" <<'EOF' || fail "simulation or reader failed ($3)"
import json, sys
sim, rd = (json.load(open(p)) for p in sys.argv[1:3])
print("%s: %d steps, %d failed opens; %d reader rounds, %d errors" %
      (sys.argv[3], sim["steps"], sim["failed"], rd["rounds"], rd["nerrors"]))
for e in sim["errors"] + rd["errors"]:
    print("  ", e)
sys.exit(1 if sim["failed"] or rd["nerrors"] or rd["rounds"] < sim["steps"] else 0)
EOF
}

say "read-write mount: 100 steps at 5 Hz, a reader at 20 Hz"
h5fs_mount "$F" "$M" || fail "mount"
run_pair 100 0 rw
"$PY" "$LIVE" check "$M" "$F" 100 || fail "the mount does not show the 100 steps as h5py reads them"
h5fs_umount "$M"
h5fs_check_log "$M"
grep -q "tree re-read" "$M.log" || fail "the mount never re-read the tree"

say "read-only mount: 25 more steps, the reader reads along"
h5fs_mount "$F" "$M" -o ro || fail "mount ro"
run_pair 25 100 ro
[ "$(ls "$M/data/fields/u" | wc -l)" -eq 100 ] || fail "a read-only mount keeps its tree"
h5fs_umount "$M"
h5fs_check_log "$M" "changed since it was mounted"
"$PY" -c "
import h5py
with h5py.File('$F', 'r') as f:
    assert len(f['data/fields/u']) == 125 and f.attrs['last_step'] == 124
" || fail "h5py check of the simulation's file"
h5fs_done
