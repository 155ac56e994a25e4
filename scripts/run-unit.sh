#!/bin/sh
# Run every cmocka unit test binary given; each prints cmocka's own summary.
# Ends with one "N passed, N failed" line over all binaries.
pass=0
fail=0
for t in "$@"; do
	if "$t"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAILED: $t"; fi
done
echo "unit: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
