#!/usr/bin/env bash
# crun against runc on a cgroup v2 machine, where both work: the start benchmarks under each runtime, alternating.
# Meant for the throwaway cgroup v2 machine (this host may have the v1 hybrid layout, where crun refuses to run):
#
#   scripts/cgroup-v2-vm --timeout 3000 -- 'bash bench/crun_vs_runc.sh' | tee crun-vs-runc.log
#   ROUNDS=N COMPARE=0 bash bench/crun_vs_runc.sh     (as root on a cgroup v2 host; COMPARE=0 skips compare.py)
#
# Each round runs every benchmark once under crun and once under runc (the order swaps each round), so both see
# the same load; bench/runtime_start.py also times both runtimes' raw `run` of the same bundle in one alternation
# (the floor). bench/compare.py --podrun-only (cases 1, 2, 4 and 5; 3 and a one-pod scaling step come with it)
# takes podrun's own choice, so its runc pass hides crun for the time of the run. Lines starting `@@json` carry each
# benchmark's raw numbers (a machine's files are gone with it), `@@load` the load average.
set -u
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-2}
COMPARE=${COMPARE:-1}
PY=.venv/bin/python
out=$(mktemp -d /tmp/crun-vs-runc.XXXXXX)
crun=$(command -v crun) || { echo "crun is not installed" >&2; exit 2; }
load() { echo "@@load $1 $(cut -d' ' -f1-3 /proc/loadavg)"; }
emit() { echo "@@json $1 $(tr -d '\n' < "$2")"; }
bench() {   # NAME RUNTIME ARGS...: one benchmark under one runtime; its exit code
    local name=$1 rt=$2
    shift 2
    echo "=== $name, $rt"
    "$PY" "bench/$name.py" --oci-runtime "$rt" "$@" || { local rc=$?; echo "=== $name, $rt: exit $rc"; return "$rc"; }
}

echo "=== $(uname -r), $(findmnt -n -o FSTYPE /sys/fs/cgroup), $(crun --version | head -1), $(runc --version | head -1), $(nproc) CPU"
for round in $(seq "$ROUNDS"); do
    order="crun runc"
    [ $((round % 2)) = 0 ] && order="runc crun"
    for rt in $order; do
        other=runc
        [ "$rt" = runc ] && other=crun
        load "runtime_start $rt $round"
        bench runtime_start "$rt" --runs "${RUNTIME_RUNS:-10}" --also-raw "$other"
        load "init_handoff $rt $round"
        bench init_handoff "$rt" --pods "${HANDOFF_PODS:-4}" --json "$out/handoff-$rt-$round.json" &&
            emit "init_handoff $rt $round" "$out/handoff-$rt-$round.json"
        load "pod_start $rt $round"
        bench pod_start "$rt" --runs "${POD_RUNS:-6}" --cli-runs "${CLI_RUNS:-4}" --json "$out/start-$rt-$round.json" &&
            emit "pod_start $rt $round" "$out/start-$rt-$round.json"
    done
done
if [ "$COMPARE" = 1 ]; then
    for rt in crun runc; do
        [ "$rt" = runc ] && mv "$crun" "$crun.hidden"
        load "compare $rt"
        echo "=== compare, $rt"
        "$PY" bench/compare.py --podrun-only --runs "${COMPARE_RUNS:-4}" --many-runs 2 --pods "${COMPARE_PODS:-10}" \
            --scaling 1 --no-features --no-chart --results "$out/compare-$rt" || echo "=== compare, $rt: exit $?"
        [ "$rt" = runc ] && mv "$crun.hidden" "$crun"
        for f in "$out/compare-$rt"/compare-*.json; do [ -e "$f" ] && emit "compare $rt" "$f"; done
    done
fi
load end
rm -rf "$out"
