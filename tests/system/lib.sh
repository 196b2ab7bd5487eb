# Shared helpers of the system tests (sourced, not run).
#
# Each tNNNN-*.sh test sources this file, calls h5fs_test_init (which
# skips with exit 77 when /dev/fuse, fusermount3 or h5py is missing and
# makes a private work directory removed at exit), mounts with
# h5fs_mount, checks with the helpers below, and ends with h5fs_done.
# Every mount is unmounted by the exit trap, whatever happens.
#
# Environment: H5FS_BUILD (default build) locates bin/h5fs;
# H5FS_TEST_VALGRIND=1 runs the daemon under valgrind.

PY=${PYTHON:-/usr/bin/python3}
TESTS_DIR=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$TESTS_DIR/../.." && pwd)
BUILD=${H5FS_BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
H5FS=$BUILD/bin/h5fs
MOUNTS=
DAEMON_PIDS=
FAILED=0

skip() {
	echo "skip: $*"
	exit 77
}

fail() {
	echo "FAIL: $*" >&2
	FAILED=1
	exit 1
}

say() {
	echo "== $*"
}

h5fs_cleanup() {
	rc=$?
	set +e
	for m in $MOUNTS; do
		if mountpoint -q "$m" 2>/dev/null; then
			fusermount3 -u -z "$m" 2>/dev/null
		fi
	done
	for p in $DAEMON_PIDS; do
		kill "$p" 2>/dev/null
	done
	if [ "$rc" -ne 0 ]; then
		# what the daemons said, where the summary shows it (the work folder goes)
		for m in $(printf '%s\n' $MOUNTS | sort -u); do
			[ -s "$m.log" ] || continue
			echo "--- the last warnings of $m.log:" >&2
			grep -E " (warning|error):" "$m.log" | tail -n 15 >&2
		done
	fi
	if [ -n "$WORK" ] && [ -z "$H5FS_KEEP" ]; then
		rm -rf "$WORK"
	elif [ -n "$WORK" ]; then
		echo "kept $WORK"
	fi
	exit $rc
}

h5fs_test_init() {
	[ -e /dev/fuse ] || skip "/dev/fuse is missing"
	command -v fusermount3 >/dev/null 2>&1 || skip "fusermount3 is missing"
	[ -x "$H5FS" ] || skip "$H5FS is not built (make all)"
	"$PY" -c 'import h5py, numpy' 2>/dev/null || skip "h5py or numpy is missing for $PY"
	WORK=$(mktemp -d "${TMPDIR:-/tmp}/h5fs-test.XXXXXX") || fail "mktemp"
	trap h5fs_cleanup EXIT
	trap 'exit 130' INT TERM
	export PYTHONPATH="$TESTS_DIR${PYTHONPATH:+:$PYTHONPATH}"
}

# h5fs_mount FILE MOUNTPOINT [options...]: start the daemon in the
# foreground (in the background of this shell), log to MOUNTPOINT.log,
# wait up to 30 s for the mount while checking the daemon is alive.
h5fs_mount() {
	file=$1 mnt=$2
	shift 2
	mkdir -p "$mnt"
	log=$mnt.log
	: >"$log"
	if [ -n "$H5FS_TEST_VALGRIND" ]; then
		valgrind -q --error-exitcode=99 "$H5FS" -f "$file" "$mnt" -o "log=$log" "$@" 2>>"$log" &
	else
		"$H5FS" -f "$file" "$mnt" -o "log=$log" "$@" 2>>"$log" &
	fi
	pid=$!
	DAEMON_PIDS="$DAEMON_PIDS $pid"
	MOUNTS="$MOUNTS $mnt"
	eval "PID_$(echo "$mnt" | tr -c 'a-zA-Z0-9\n' _)=$pid"
	i=0
	while [ $i -lt 300 ]; do
		if mountpoint -q "$mnt"; then
			return 0
		fi
		if ! kill -0 "$pid" 2>/dev/null; then
			mountpoint -q "$mnt" && return 0
			wait "$pid"
			echo "daemon exited with $? before mounting; log:" >&2
			cat "$log" >&2
			return 1
		fi
		sleep 0.1
		i=$((i + 1))
	done
	echo "mount of $file on $mnt did not appear within 30 s" >&2
	return 1
}

# h5fs_umount MOUNTPOINT: unmount, and require the daemon to exit 0.
h5fs_umount() {
	mnt=$1
	var=PID_$(echo "$mnt" | tr -c 'a-zA-Z0-9\n' _)
	eval "pid=\$$var"
	fusermount3 -u "$mnt" || { fusermount3 -u -z "$mnt"; fail "cannot unmount $mnt"; }
	wait "$pid"
	rc=$?
	[ "$rc" -eq 0 ] || { cat "$mnt.log" >&2; fail "daemon exited with $rc after unmount of $mnt"; }
	DAEMON_PIDS=$(echo "$DAEMON_PIDS" | sed "s/ $pid\b//")
	return 0
}

# h5fs_check_log MOUNTPOINT [ALLOWED-REGEX]: no error/warning lines
# besides the allowed ones.
h5fs_check_log() {
	mnt=$1 allowed=${2:-'^$'}
	bad=$(grep -E ' (error|warning): |AddressSanitizer|runtime error|HDF5-DIAG' "$mnt.log" | grep -Ev "$allowed")
	if [ -n "$bad" ]; then
		echo "$bad" >&2
		fail "unexpected lines in the daemon log of $mnt"
	fi
}

# expect_errno ERRNO-NAME COMMAND...: the command fails and its stderr
# names the error (strerror text of ERRNO-NAME).
expect_fail() {
	want=$1
	shift
	out=$("$@" 2>&1) && fail "'$*' succeeded, expected $want"
	echo "$out" | grep -q "$want" || fail "'$*' failed with '$out', expected '$want'"
}

h5fs_done() {
	echo "ok"
	exit 0
}
