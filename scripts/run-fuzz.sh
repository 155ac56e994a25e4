#!/bin/sh
# Run each libFuzzer target for the given number of seconds on its corpus in
# tests/fuzz/corpus/<target>/ (new inputs go to a scratch dir, not the repo).
set -e
secs=$1
shift
pass=0
fail=0
for bin in "$@"; do
	name=$(basename "$bin")
	corpus=tests/fuzz/corpus/${name#fuzz_}
	scratch=$(mktemp -d)
	echo "fuzz: $name for ${secs}s (corpus $corpus)"
	if "$bin" -max_total_time="$secs" -print_final_stats=0 -artifact_prefix=tests/fuzz/ \
		"$scratch" "$corpus" >"$scratch.log" 2>&1; then
		pass=$((pass + 1))
		tail -n 2 "$scratch.log"
	else
		fail=$((fail + 1))
		tail -n 60 "$scratch.log"
		echo "FAILED: $name"
	fi
	rm -rf "$scratch" "$scratch.log"
done
echo "fuzz: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
