#!/usr/bin/env bash
# The test suite: set up, install Debian's blender (3.4) for the executable tests and xvfb for the tests of
# Blender's window (a virtual display), run pytest. With no arguments it then runs the other stages: the core
# tests on bpy 4.2 and 5.0 and the Ray RLlib tests, each in a virtual environment of its own.
#
# Every stage runs even when an earlier one failed, so that one failure hides nothing; the script ends with
# one summary line per stage (name, counts, seconds) and a total line, and exits non-zero if any stage failed.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || { echo "scripts/setup.sh failed: no stage can run" >&2; exit 1; }
missing=""
command -v blender >/dev/null || missing="$missing blender"
command -v Xvfb >/dev/null || missing="$missing xvfb"
if [ -n "$missing" ]; then
    sudo=""
    [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q $missing || { echo "apt-get could not install$missing" >&2; exit 1; }
fi

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
summary=()
passed_total=0
failed_total=0
status=0

# run_stage NAME COMMAND...: runs the command with its output shown and kept, then records pytest's counts
# from its closing line. A stage that exits non-zero fails, whatever it counted (an install that failed
# counts no test at all).
run_stage() {
    local name=$1 log="$logs/$1.log" began=$SECONDS
    shift
    echo "== stage $name: $*"
    "$@" 2>&1 | tee "$log"
    local code=${PIPESTATUS[0]}
    local closing passed failed
    closing=$(grep -E '^(=+ )?[0-9]+ (passed|failed|error|errors|skipped|deselected)' "$log" | tail -n 1)
    passed=$(grep -oE '[0-9]+ passed' <<<"$closing" | grep -oE '[0-9]+')
    [ -n "$passed" ] || passed=0
    failed=0
    for count in $(grep -oE '[0-9]+ (failed|errors?)' <<<"$closing" | grep -oE '[0-9]+'); do
        failed=$((failed + count))
    done
    if [ "$code" -ne 0 ] && [ "$failed" -eq 0 ]; then
        failed=1  # the stage failed before or outside its tests: count it as one failure
    fi
    passed_total=$((passed_total + passed))
    failed_total=$((failed_total + failed))
    local verdict=ok
    if [ "$code" -ne 0 ]; then
        verdict="FAILED (exit $code)"
        status=1
    fi
    summary+=("stage $name: $passed passed, $failed failed in $((SECONDS - began)) s: $verdict")
}

run_stage main .venv/bin/python -m pytest --durations=25 "$@"
# The whole suite (no arguments) also runs on the other supported bpy releases, and on Ray RLlib.
if [ $# -eq 0 ]; then
    run_stage bpy-4.2 bash scripts/test_blender_version.sh 4.2
    run_stage bpy-5.0 bash scripts/test_blender_version.sh 5.0
    run_stage rllib bash scripts/test_rllib.sh
fi

echo
echo "== summary"
printf '%s\n' "${summary[@]}"
echo "total: $passed_total passed, $failed_total failed"
exit $status
