#!/usr/bin/env bash
# Brings up a single-node Slurm cluster on this machine (Debian's slurm-wlm + munge, as root, no
# systemd): munged, slurmctld and slurmd, with all state, spool and logs under one directory.
# Usage: scripts/slurm-up.sh DIR     prints "SLURM_DIR=DIR" when `sinfo` shows the node idle.
# Stop it with scripts/slurm-down.sh DIR (by the pids in DIR, nothing else).
# Writes /etc/slurm/slurm.conf (the Debian packages read it there) and, if missing, a munge key.
set -euo pipefail
S=${1:?usage: slurm-up.sh DIR}
mkdir -p "$S"
S=$(cd "$S" && pwd)
for b in slurmctld slurmd munged sinfo sbatch; do
    command -v "$b" >/dev/null || [ -x "/usr/sbin/$b" ] || { echo "slurm-up: $b not installed (scripts/install-deps.sh installs slurm-wlm and munge)" >&2; exit 1; }
done
[ "$(id -u)" -eq 0 ] || { echo "slurm-up: must run as root (slurmd runs jobs as their user)" >&2; exit 1; }
H=$(hostname -s)
mkdir -p "$S/state" "$S/spool" /etc/slurm

# munge: a key and a daemon of our own (socket in /run/munge, the default the Slurm plugin uses).
if [ ! -f /etc/munge/munge.key ]; then
    mkdir -p /etc/munge
    dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null
    chown munge:munge /etc/munge/munge.key; chmod 400 /etc/munge/munge.key
fi
mkdir -p /run/munge /var/lib/munge /var/log/munge
chown munge:munge /run/munge /var/lib/munge /var/log/munge
if ! munge -n </dev/null >/dev/null 2>&1; then
    # munged runs as user munge, which may not reach DIR (pytest's temporary folders are 0700):
    # its pid file goes to /run/munge, and DIR/munged.ours names it for slurm-down.sh.
    PIDFILE=/run/munge/munged.eostrace-$$.pid
    su -s /bin/sh munge -c "/usr/sbin/munged --pid-file=$PIDFILE" || { echo "slurm-up: munged did not start" >&2; exit 1; }
    for _ in $(seq 50); do munge -n </dev/null >/dev/null 2>&1 && break; sleep 0.1; done
    munge -n </dev/null >/dev/null 2>&1 || { echo "slurm-up: munge does not answer" >&2; exit 1; }
    echo "$PIDFILE" > "$S/munged.ours"
fi

cat > /etc/slurm/slurm.conf <<CONF
ClusterName=eostrace-test
SlurmctldHost=$H
SlurmUser=root
StateSaveLocation=$S/state
SlurmdSpoolDir=$S/spool
SlurmctldPidFile=$S/slurmctld.pid
SlurmdPidFile=$S/slurmd.pid
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
KillWait=10
SlurmctldLogFile=$S/ctld.log
SlurmdLogFile=$S/d.log
NodeName=$H CPUs=$(nproc) State=UNKNOWN
PartitionName=debug Nodes=$H Default=YES MaxTime=INFINITE State=UP
CONF
/usr/sbin/slurmctld -i
/usr/sbin/slurmd
for _ in $(seq 100); do
    if sinfo -h -o '%T' 2>/dev/null | grep -qE '^idle'; then echo "SLURM_DIR=$S"; exit 0; fi
    sleep 0.2
done
echo "slurm-up: the node did not become idle in 20 s; sinfo says: $(sinfo 2>&1 | tr '\n' ' ')" >&2
echo "slurm-up: last lines of $S/ctld.log: $(tail -n 3 "$S/ctld.log" 2>/dev/null | tr '\n' ' ')" >&2
exit 1
