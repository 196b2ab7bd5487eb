#!/bin/sh
# Add up the suites' counts (build/results/*.counts) into the closing line.
dir=${1:-build/results}
pass=0 fail=0 skip=0
for f in "$dir"/*.counts; do
	[ -f "$f" ] || continue
	read -r p fl s < "$f"
	pass=$((pass + p)); fail=$((fail + fl)); skip=$((skip + s))
done
if [ -f "$dir/failed" ]; then
	echo "failed suites: $(tr '\n' ' ' < "$dir/failed")"
	[ "$fail" -gt 0 ] || fail=1
fi
echo "check: $pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
