#!/usr/bin/env bash
# The test suite: set up, install Debian's blender (3.4) for the executable tests and xvfb for the tests of
# Blender's window (a virtual display), run pytest. With no arguments it then runs the other stages: the core
# tests on bpy 4.2 and 5.0 and the Ray RLlib tests, each in a virtual environment of its own. Stages run side
# by side where that is faster on two cores (below).
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
# Stages in the background ignore Ctrl-C (bash's rule for a script's background jobs): an interrupted run
# ends them here, each its own process group, Blenders included.
end_stages() {
    for pid_file in "$logs"/*.pid; do
        [ -e "$pid_file" ] && kill -TERM -- "-$(cat "$pid_file")" 2>/dev/null
    done
    rm -rf "$logs"
}
trap end_stages EXIT

# run_stage NAME COMMAND...: runs the command with its output shown and kept in $logs/NAME.log; its exit
# status and seconds go to $logs/NAME.status.
run_stage() {
    local name=$1 began=$SECONDS
    shift
    echo "== stage $name: $*"
    "$@" 2>&1 | tee "$logs/$name.log"
    echo "${PIPESTATUS[0]} $((SECONDS - began))" >"$logs/$name.status"
}

# run_stage_aside NAME COMMAND...: the same in the background, in a process group of its own, its output
# printed later (COMMAND is pytest, or a script that passes its arguments to pytest). Each such stage gets its own pytest temporary directory and no pytest cache, which stages
# running together would otherwise share.
run_stage_aside() {
    local name=$1
    shift
    (
        began=$SECONDS
        echo "== stage $name: $*" >"$logs/$name.log"
        setsid "$@" -p no:cacheprovider --basetemp="$logs/$name-tmp" >>"$logs/$name.log" 2>&1 &
        echo $! >"$logs/$name.pid"
        wait $!
        echo "$? $((SECONDS - began))" >"$logs/$name.status"
    ) &
}

summary=()
passed_total=0
failed_total=0
status=0

# record_stage NAME: adds the stage's summary line, from pytest's closing line in its log and its exit
# status. A stage that exits non-zero fails, whatever it counted (an install that failed counts no test).
record_stage() {
    local name=$1 log="$logs/$1.log" code seconds closing passed failed
    read -r code seconds <"$logs/$name.status"
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
    summary+=("stage $name: $passed passed, $failed failed in $seconds s: $verdict")
}

if [ $# -gt 0 ]; then
    # Arguments select tests of the main suite: that stage alone.
    run_stage main .venv/bin/python -m pytest --durations=25 "$@"
    record_stage main
else
    # The main suite in two halves side by side: the slow tests (training, long soaks) keep about a core
    # and a half busy, the rest much of the time wait (on Blender's start-up, timeouts, real-time pacing),
    # so together they take about 70% of one after the other (measured: 905 s against ~1,280 s).
    run_stage_aside main-slow .venv/bin/python -m pytest -q --durations=10 -m slow
    run_stage main .venv/bin/python -m pytest --durations=25 -m "not slow"
    wait
    cat "$logs/main-slow.log"
    record_stage main
    record_stage main-slow
    # Then the core tests on the other supported bpy releases, and the Ray RLlib tests, side by side too: each
    # keeps about one core busy (installs, then a host process taking turns with its Blender).
    others=(bpy-4.2 bpy-5.0 rllib)
    echo "== stages ${others[*]}, side by side: their output follows when all have ended"
    run_stage_aside bpy-4.2 bash scripts/test_blender_version.sh 4.2
    run_stage_aside bpy-5.0 bash scripts/test_blender_version.sh 5.0
    run_stage_aside rllib bash scripts/test_rllib.sh
    wait
    for name in "${others[@]}"; do
        cat "$logs/$name.log"
        record_stage "$name"
    done
fi

echo
echo "== summary"
printf '%s\n' "${summary[@]}"
echo "total: $passed_total passed, $failed_total failed"
exit $status
