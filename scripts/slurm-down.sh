#!/usr/bin/env bash
# Stops what scripts/slurm-up.sh DIR started: slurmd, slurmctld (and munged when it started
# it), each by the pid in its pid file under DIR. Cancels remaining jobs first.
set -uo pipefail
S=${1:?usage: slurm-down.sh DIR}
[ -d "$S" ] || exit 0
scancel --user="$(id -un)" >/dev/null 2>&1 || true
stop() {
    local f=$1
    [ -f "$f" ] || return 0
    local pid; pid=$(cat "$f" 2>/dev/null)
    [ -n "$pid" ] || return 0
    kill "$pid" 2>/dev/null || return 0
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
}
stop "$S/slurmd.pid"
stop "$S/slurmctld.pid"
if [ -f "$S/munged.ours" ]; then
    pidfile=$(cat "$S/munged.ours")
    stop "$pidfile"
    rm -f "$S/munged.ours" "$pidfile"
fi
exit 0
