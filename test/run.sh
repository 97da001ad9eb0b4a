#!/usr/bin/env bash
# Every test, from nothing: installs packages, builds, installs, then runs the
# pg_regress tests and the TAP tests (make installcheck) as the postgres user
# on throwaway clusters, and a short fuzz run of the template engine.
# Ends with one line: "N passed, N failed".
set -uo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/setup.sh" || exit 1
set +e

# Outside test data (the Mustache spec, Standard Webhooks vectors).
NEXTPHONE_SHARED=${NEXTPHONE_SHARED:-$(cd "$NEXTPHONE_ROOT/../shared" 2>/dev/null && pwd)}
export NEXTPHONE_SHARED

work=$(nextphone_workdir)
log="$work/installcheck.log"

# make installcheck runs pg_regress then prove; run them one at a time so a
# regression failure does not hide the TAP results.
for suite in "TAP_TESTS=" "REGRESS="; do
	echo "== make installcheck $suite (in $work)"
	runuser -u postgres -- env PATH="$PATH" NEXTPHONE_SHARED="$NEXTPHONE_SHARED" \
		make -C "$work" PG_CONFIG="$PG_CONFIG" installcheck "$suite" 2>&1 | tee -a "$log"
done

# Count by test, not by output line: pg_regress prints "test NAME ... ok" or
# "... FAILED" (indented in parallel groups); prove prints "test/t/NAME.pl .. ok"
# for a passing file, possibly after lines of its own diagnostics. A TAP file
# that never printed "ok" (failed, dubious, died) counts as failed.
regress_total=$(ls "$NEXTPHONE_ROOT"/sql/*.sql | grep -vc '/nextphone--')
regress_passed=$(grep -Ec '^(ok [0-9]+ +[-+] |test |     )[A-Za-z0-9_]+ +(\.\.\. )?ok' "$log")
tap_total=$(ls "$NEXTPHONE_ROOT"/test/t/*.pl | wc -l)
tap_passed=$(grep -Eo '^test/t/[^ ]+\.pl \.+ (ok|skipped)' "$log" | awk '{print $1}' | sort -u | wc -l)
passed=$((regress_passed + tap_passed))
failed=$((regress_total - regress_passed + tap_total - tap_passed))
[ -f "$work/regression.diffs" ] && cat "$work/regression.diffs"

# A short fuzz run of the template engine (libFuzzer), when its target exists.
if [ -f "$NEXTPHONE_ROOT/test/fuzz/fuzz_template.c" ]; then
	echo "== fuzz: template engine, ${NEXTPHONE_FUZZ_SECONDS:-60} s"
	if runuser -u postgres -- make -C "$work" -s PG_CONFIG="$PG_CONFIG" fuzz-run \
		FUZZ_SECONDS="${NEXTPHONE_FUZZ_SECONDS:-60}" 2>&1 | tail -5; then
		passed=$((passed + 1))
		echo "fuzz_template ... ok"
	else
		failed=$((failed + 1))
		echo "fuzz_template ... FAILED"
	fi
fi

if [ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]; then
	rm -rf "$work"
	echo "$passed passed, $failed failed"
	exit 0
fi
echo "(results, diffs and TAP logs kept in $work)"
echo "$passed passed, $failed failed"
exit 1
