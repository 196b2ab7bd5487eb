#!/bin/sh
# Model-based: a seeded random sequence of a few hundred operations
# (create, write at offsets, truncate, rename, unlink, mkdir, rmdir,
# setxattr, removexattr) applied to the mount and to an in-memory model,
# compared after every step and after unmount and remount.  The seed is
# fixed (printed); H5FS_SEED=N runs another, H5FS_SEED=random a new one.
. "$(dirname "$0")/lib.sh"
h5fs_test_init

F=$WORK/a.h5 M=$WORK/mnt
SEED=${H5FS_SEED:-20261204}
[ "$SEED" = random ] && SEED=$(od -A n -N 4 -t u4 /dev/urandom | tr -d ' ')
STEPS=${H5FS_MODEL_STEPS:-300}
echo "t0025: seed $SEED (H5FS_SEED=$SEED repeats it)"
"$PY" -c "import h5py; h5py.File('$F', 'w').close()" || fail "fixture"
h5fs_mount "$F" "$M" || fail "mount"
"$PY" "$TESTS_DIR/h5fs_model.py" "$M" "$SEED" "$STEPS" "$WORK/state.json" || fail "model (seed $SEED)"
h5fs_umount "$M"
"$PY" -c "import h5py; h5py.File('$F', 'r').close()" || fail "h5py cannot open the file (seed $SEED)"
h5fs_mount "$F" "$M" || fail "remount"
"$PY" "$TESTS_DIR/h5fs_model.py" "$M" "$SEED" 0 "$WORK/state.json" || fail "remount (seed $SEED)"
h5fs_umount "$M"
h5fs_check_log "$M"
h5fs_done
