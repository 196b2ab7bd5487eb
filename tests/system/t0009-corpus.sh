#!/bin/sh
# Mount every corpus file that h5ls opens and walk it (find, stat,
# getfattr -d, read every dataset); compare bytes with h5py wherever
# h5py reads; expect errors where it cannot (missing filters, corrupt
# data).  Files that crash or hang libhdf5 must not crash or hang the
# daemon: the mount is refused with exit 30 or it serves what it can, and
# no mount is left behind.  Prints one line per file.
. "$(dirname "$0")/lib.sh"
h5fs_test_init
CORPUS=${H5FS_CORPUS:-$ROOT/../shared/corpus}
[ -d "$CORPUS/files" ] || skip "no corpus at $CORPUS (set H5FS_CORPUS)"
command -v h5ls >/dev/null 2>&1 || skip "h5ls (hdf5-tools) is missing"

M=$WORK/mnt
mkdir -p "$M"
# external links name their targets relative to the linking file
ln -s "$CORPUS/files" "$WORK/files"
total=0 mounted=0 refused=0 problems=0
for f in "$CORPUS"/files/* "$CORPUS"/bamboost/*.h5; do
	[ -f "$f" ] || continue
	name=$(basename "$f")
	total=$((total + 1))
	timeout 20 h5ls -r "$f" >/dev/null 2>&1
	h5ls_rc=$?
	if ! h5fs_mount "$f" "$M" -o ro,index_timeout=5 >"$WORK/mount.err" 2>&1; then
		if grep -q 'exited with \(11\|30\) before' "$WORK/mount.err"; then
			refused=$((refused + 1))
			echo "  $name: refused (h5ls rc $h5ls_rc): $(grep -h 'h5fs:' "$M.log" | tail -n 1)"
			# the terminal gets one line, whatever libhdf5 or glibc
			# printed as they crashed in the indexer (sanitizer
			# builds keep the child's stderr for their reports)
			if [ -z "$H5FS_SANITIZE" ]; then
				"$H5FS" "$f" "$M" -o ro,index_timeout=5 >"$WORK/refuse.out" 2>&1
				mountpoint -q "$M" && fusermount3 -u "$M"
				lines=$(wc -l <"$WORK/refuse.out")
				if [ "$lines" -ne 1 ]; then
					problems=$((problems + 1))
					echo "  $name: PROBLEM: the second try printed $lines lines, not one:"
					head -n 5 "$WORK/refuse.out"
				fi
			fi
		else
			problems=$((problems + 1))
			echo "  $name: PROBLEM: mount failed: $(cat "$WORK/mount.err" | tail -n 3)"
		fi
		continue
	fi
	mounted=$((mounted + 1))
	timeout 60 find "$M" >/dev/null 2>&1
	[ $? -eq 124 ] && { problems=$((problems + 1)); echo "  $name: PROBLEM: find hangs"; }
	timeout 60 ls -laR "$M" >/dev/null 2>&1
	timeout 60 getfattr -R -d "$M" >/dev/null 2>&1
	# files that crash h5py itself are walked without comparing
	h5py_rc=$(awk -F '\t' -v n="$name" '$1 == n { print $13 }' "$CORPUS/MANIFEST.tsv" 2>/dev/null)
	cmpopt=
	[ -n "$h5py_rc" ] && [ "$h5py_rc" != 0 ] && cmpopt=--no-compare
	res=$(cd "$WORK/files" && ulimit -v 4000000 && timeout 300 "$PY" -W ignore "$TESTS_DIR/h5fs_corpus.py" "$M" "$f" $cmpopt 2>&1)
	rc=$?
	[ $rc -eq 0 ] || problems=$((problems + 1))
	skipped=$(grep -c 'indexer \(crashed\|hung\)' "$M.log")
	echo "  $name: $(echo "$res" | tail -n 1), indexer skips $skipped (h5ls rc $h5ls_rc)"
	[ $rc -eq 0 ] || echo "$res" | head -n 10
	if ! kill -0 "$pid" 2>/dev/null; then
		problems=$((problems + 1))
		echo "  $name: PROBLEM: the daemon died"
		fusermount3 -u -z "$M" 2>/dev/null
		continue
	fi
	h5fs_umount "$M"
	grep -q 'AddressSanitizer\|runtime error' "$M.log" && { problems=$((problems + 1)); echo "  $name: PROBLEM: sanitizer report"; }
done
mountpoint -q "$M" && fail "a mount was left behind"
echo "corpus: $total files, $mounted mounted, $refused refused, $problems problems"
[ $problems -eq 0 ] || fail "$problems problems"
h5fs_done
