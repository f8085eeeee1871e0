#!/usr/bin/env bash
# A private one-node Slurm cluster on this machine, for the sweep runner's Slurm executor and its
# tests (tests/slurm_test.ts):
#
#   scripts/slurm-local.sh start    install slurm-wlm and munge when missing (apt, as root), start
#                                   munged, slurmctld and slurmd with everything in a private
#                                   folder; last line: export SLURM_CONF=<folder>/slurm.conf
#   scripts/slurm-local.sh stop     stop the three daemons (the folder and its logs stay)
#   scripts/slurm-local.sh status   exit 0 and print the export line when the cluster answers
#
# The folder is $SLURM_LOCAL_DIR (default /tmp/coca-slurm); the ports $SLURM_LOCAL_PORT and the
# next one (default 6917, 6918). Needs root (slurmd runs jobs as their user, and munged runs as
# user munge). Exit status: 0 done, 1 not running (status) or a daemon did not come up, 3 cannot
# run here (not root, or Slurm missing and not installable).
set -euo pipefail

DIR="${SLURM_LOCAL_DIR:-/tmp/coca-slurm}"
PORT="${SLURM_LOCAL_PORT:-6917}"
CONF="$DIR/slurm.conf"
SOCKET="$DIR/munge/munge.socket"

die() {
  echo "slurm-local: $2" >&2
  exit "$1"
}

answers() {
  [ -f "$CONF" ] && SLURM_CONF="$CONF" timeout 10 scontrol ping 2>/dev/null | grep -q "is UP"
}

stop_pid() { # stop_pid FILE: SIGTERM the pid in FILE, wait up to 10 s, then SIGKILL
  local pid
  [ -f "$1" ] || return 0
  pid="$(cat "$1")"
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$1"
}

stop() {
  stop_pid "$DIR/run/slurmd.pid"
  stop_pid "$DIR/run/slurmctld.pid"
  stop_pid "$DIR/munge/munged.pid"
}

install_if_missing() {
  local missing=()
  for b in sbatch squeue scontrol scancel slurmctld slurmd munged; do
    command -v "$b" >/dev/null 2>&1 || missing+=("$b")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" -eq 0 ] ||
    die 3 "expected Slurm installed (missing: ${missing[*]}) or root to install it, found user $(id -un)"
  command -v apt-get >/dev/null 2>&1 ||
    die 3 "expected apt-get to install slurm-wlm and munge (missing: ${missing[*]}), found none"
  echo "slurm-local: installing slurm-wlm and munge (missing: ${missing[*]})" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >&2
  apt-get install -y -q slurm-wlm munge >&2 || die 3 "apt-get install slurm-wlm munge failed"
}

write_conf() {
  local cpus mem
  cpus="$(nproc)"
  # A quarter of the memory stays for the system, at most 8000 MB for jobs.
  mem="$(awk '/^MemTotal:/ { m = int($2 / 1024 * 3 / 4); print (m > 8000 ? 8000 : m) }' /proc/meminfo)"
  cat >"$CONF" <<EOF
# Written by scripts/slurm-local.sh: a private one-node cluster.
ClusterName=coca-local
SlurmctldHost=localhost
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
AuthType=auth/munge
AuthInfo=socket=$SOCKET
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
KillWait=5
MinJobAge=300
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
}

start() {
  if answers; then
    echo "slurm-local: already running in $DIR" >&2
    echo "export SLURM_CONF=$CONF"
    return 0
  fi
  [ "$(id -u)" -eq 0 ] || die 3 "expected root to start slurmd and munged, found user $(id -un)"
  install_if_missing
  stop # leftovers of a cluster that no longer answers
  mkdir -p "$DIR"/{munge,state,spool,log,run}
  rm -rf "${DIR:?}/state/"* "${DIR:?}/spool/"* # a fresh cluster: no jobs of an earlier one
  chmod 0755 "$DIR"
  # munged refuses a socket folder that others may write, and also one that is 0700.
  chown munge:munge "$DIR/munge"
  chmod 0755 "$DIR/munge"
  if [ ! -s "$DIR/munge/munge.key" ]; then
    if [ -s /etc/munge/munge.key ]; then
      cp /etc/munge/munge.key "$DIR/munge/munge.key"
    else
      head -c 1024 /dev/urandom >"$DIR/munge/munge.key"
    fi
  fi
  chown munge:munge "$DIR/munge/munge.key"
  chmod 0400 "$DIR/munge/munge.key"
  runuser -u munge -- munged --socket="$SOCKET" --key-file="$DIR/munge/munge.key" \
    --pid-file="$DIR/munge/munged.pid" --log-file="$DIR/munge/munged.log" \
    --seed-file="$DIR/munge/munged.seed" ||
    die 1 "munged did not start (log: $DIR/munge/munged.log)"
  write_conf
  slurmctld -f "$CONF" || die 1 "slurmctld did not start (log: $DIR/log/slurmctld.log)"
  slurmd -f "$CONF" -N localhost || die 1 "slurmd did not start (log: $DIR/log/slurmd.log)"
  export SLURM_CONF="$CONF"
  for _ in $(seq 300); do
    if answers && [ "$(sinfo -h -n localhost -o %T 2>/dev/null)" = "idle" ]; then
      echo "slurm-local: one-node cluster up in $DIR" >&2
      echo "export SLURM_CONF=$CONF"
      return 0
    fi
    sleep 0.1
  done
  die 1 "expected the node idle within 30 s, found $(sinfo -h -o '%n %T' 2>&1 | head -1) (logs: $DIR/log)"
}

case "${1:-}" in
start) start ;;
stop) stop ;;
status)
  if answers; then
    echo "export SLURM_CONF=$CONF"
  else
    echo "slurm-local: not running (folder $DIR)" >&2
    exit 1
  fi
  ;;
*) die 2 "expected start, stop or status, found \"${1:-}\"" ;;
esac
