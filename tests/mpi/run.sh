#!/bin/sh
# Run the MPI suites under mpiexec -n 1, 2 and 4 and print one summary.
# A suite NAME.sh is run as `sh NAME.sh N` and runs mpiexec itself.
# Rank 0's cmocka output is counted; the other ranks log to
# build/results/mpi/NAME-nN.log.rankR, and any rank's failure fails the run.
out=build/results/mpi
mkdir -p "$out"
if ! command -v mpiexec >/dev/null 2>&1; then
	echo "mpi: skipped: mpiexec not found (install openmpi-bin)"
	echo "0 0 1" > build/results/mpi.counts
	exit 1
fi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# No network interfaces besides loopback are needed on one machine.
export OMPI_MCA_btl=self,vader OMPI_MCA_rmaps_base_oversubscribe=1
pass=0 fail=0 skip=0
for prog in "$@"; do
	name=$(basename "$prog")
	for n in 1 2 4; do
		log=$out/$name-n$n.log
		case $prog in
		*.sh)	# a script that runs mpiexec -n N itself
			timeout -k 5 300 sh "$prog" "$n" >"$log" 2>&1 ;;
		*)	timeout -k 5 300 mpiexec --oversubscribe -n "$n" "$prog" "$log" >"$log" 2>&1 ;;
		esac
		rc=$?
		p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" | head -n 1)
		f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log" | head -n 1)
		p=${p:-0} f=${f:-0}
		if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
		printf '  %-28s %d passed, %d failed\n' "$name -n $n" "$p" "$f"
		pass=$((pass + p)); fail=$((fail + f))
		if [ "$f" -ne 0 ]; then
			echo "---- $log (exit $rc)"
			tail -n 30 "$log"
			for r in "$log".rank*; do
				[ -f "$r" ] && grep -E 'ERROR|FAILED' "$r" | head -n 5
			done
		fi
	done
done
echo "$pass $fail $skip" > build/results/mpi.counts
echo "mpi: $pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
