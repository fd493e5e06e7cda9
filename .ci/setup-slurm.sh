#!/bin/sh
# A single-node Slurm (Debian slurm-wlm + munge) for tests/test_fleet_slurm.py, which runs a fleet
# plan end to end through sbatch job arrays (../shared/SLURM.md has the steps this follows).
# Idempotent and bounded: a running cluster is left as it is, every apt step has a timeout, and
# the exit status says whether `sbatch` can run jobs here. .ci/run calls it as
#   sh .ci/setup-slurm.sh || echo "..."   so CI never fails on it; the Slurm tests then skip and say why.
# Stop it: kill the pids in $STATE/slurmd.pid and $STATE/slurmctld.pid, then munged's.
set -u
STATE=${PGOLF_SLURM_STATE:-/tmp/pgolf-slurm}
have() { command -v "$1" >/dev/null 2>&1; }
ready() { have sinfo && timeout 10 sinfo -h -o '%T' 2>/dev/null | grep -Eq '^(idle|mixed|allocated)'; }

if ready; then
  echo "setup-slurm: a Slurm cluster already answers: $(sinfo -h -o '%P %a %D %T' | head -n 1)"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "setup-slurm: not root; the Slurm tests will skip" >&2
  exit 1
fi
if ! have slurmctld || ! have munged; then
  if ! have apt-get; then
    echo "setup-slurm: no apt-get on this machine; the Slurm tests will skip" >&2
    exit 1
  fi
  APT_OPTS="-q -o Acquire::Retries=1 -o Acquire::http::Timeout=20 -o Acquire::https::Timeout=20 -o DPkg::Lock::Timeout=60"
  export DEBIAN_FRONTEND=noninteractive
  timeout 120 apt-get $APT_OPTS update >/dev/null 2>&1 || echo "setup-slurm: apt-get update failed or timed out" >&2
  # shellcheck disable=SC2086  # APT_OPTS is a word list on purpose
  if ! timeout 300 apt-get $APT_OPTS install -y slurm-wlm munge >/dev/null; then
    echo "setup-slurm: apt-get install slurm-wlm munge failed (mirror unreachable?); the Slurm tests will skip" >&2
    exit 1
  fi
fi

HOST=$(hostname)
CPUS=$(nproc)
# Slurm refuses a node that has less memory than its configuration says: ask for 90 % of it.
MEM_MB=$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)
mkdir -p "$STATE/state" "$STATE/spool" "$STATE/log" /run/munge /var/log/munge /var/lib/munge /etc/munge /etc/slurm
[ -f /etc/munge/munge.key ] || dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null
chown -R munge:munge /etc/munge /run/munge /var/log/munge /var/lib/munge
chmod 400 /etc/munge/munge.key
if ! pgrep -u munge -x munged >/dev/null 2>&1; then
  runuser -u munge -- munged || { echo "setup-slurm: munged did not start" >&2; exit 1; }
fi
cat > /etc/slurm/slurm.conf <<CONF
# written by pgolf-harness .ci/setup-slurm.sh: one node, this machine
ClusterName=local
SlurmctldHost=$HOST
SlurmUser=root
AuthType=auth/munge
StateSaveLocation=$STATE/state
SlurmdSpoolDir=$STATE/spool
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
ReturnToService=2
NodeName=$HOST CPUs=$CPUS RealMemory=$MEM_MB State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
CONF
running() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
running "$STATE/slurmctld.pid" || slurmctld || { echo "setup-slurm: slurmctld did not start ($STATE/log)" >&2; exit 1; }
running "$STATE/slurmd.pid" || slurmd || { echo "setup-slurm: slurmd did not start ($STATE/log)" >&2; exit 1; }
i=0
while [ $i -lt 30 ]; do
  if ready; then
    echo "setup-slurm: $(sinfo -h -o '%P %a %D %T %c CPUs' | head -n 1)"
    exit 0
  fi
  i=$((i + 1))
  sleep 1
done
echo "setup-slurm: the node did not become idle within 30 s ($STATE/log); the Slurm tests will skip" >&2
exit 1
