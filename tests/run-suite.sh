#!/bin/sh
# Run one suite and print one summary line for it.
#
#   tests/run-suite.sh NAME PROGRAM...
#
# A cmocka program counts as its own tests (its PASSED / FAILED / SKIPPED
# lines); any other program (a system test script) is one test: exit 0
# passes, 77 is a skip (its reason is printed), anything else fails.
# Logs go to build/results/NAME/; counts to build/results/NAME.counts.
# Exits non-zero when anything failed or when nothing ran.
suite=$1; shift
out=build/results/$suite
mkdir -p "$out"
if [ -n "$H5FS_SANITIZE" ]; then
	ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1}
	LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$(pwd)/tests/lsan.supp:print_suppressions=0}
	UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
	export ASAN_OPTIONS LSAN_OPTIONS UBSAN_OPTIONS
fi
TIMEOUT=${H5FS_TEST_TIMEOUT:-600}
pass=0 fail=0 skip=0
failed_names=
for prog in "$@"; do
	name=$(basename "$prog")
	log=$out/$name.log
	case "$prog" in
	*.sh) timeout -k 10 "$TIMEOUT" sh "$prog" >"$log" 2>&1 ;;
	*) timeout -k 10 "$TIMEOUT" "$prog" >"$log" 2>&1 ;;
	esac
	rc=$?
	if grep -q '^\[==========\]' "$log"; then
		p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" | awk '{s+=$1} END {print s+0}')
		f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log" | awk '{s+=$1} END {print s+0}')
		s=$(sed -n 's/^\[  SKIPPED \] \([0-9]*\) test.*/\1/p' "$log" | awk '{s+=$1} END {print s+0}')
		# A crash or sanitizer report after the tests still fails the program.
		if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
		pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
		printf '  %-28s %d passed, %d failed, %d skipped\n' "$name" "$p" "$f" "$s"
		[ "$f" -eq 0 ] || failed_names="$failed_names $name"
	elif [ "$rc" -eq 0 ]; then
		pass=$((pass + 1))
		printf '  %-28s ok\n' "$name"
	elif [ "$rc" -eq 77 ]; then
		skip=$((skip + 1))
		printf '  %-28s skipped: %s\n' "$name" "$(tail -n 1 "$log")"
	else
		fail=$((fail + 1))
		printf '  %-28s FAILED (exit %d)\n' "$name" "$rc"
		failed_names="$failed_names $name"
	fi
done
echo "$pass $fail $skip" > "$out.counts"
for n in $failed_names; do
	echo "---- $suite/$n (last 40 lines of $out/$n.log)"
	# the seed of a random test, which a crash may have cut off the tail
	grep -h -m 3 'seed [0-9]' "$out/$n.log"
	tail -n 40 "$out/$n.log"
done
echo "$suite: $pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
