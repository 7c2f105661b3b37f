#!/usr/bin/env bash
# Stops the control plane that tools/cluster-up.sh started in <dir> (kube-controller-manager,
# kube-apiserver, etcd: TERM, then KILL after 15 s) and removes <dir>. Only processes named in
# <dir>/*.pid whose command line still is that binary are signalled; only a directory carrying
# cluster-up's marker file is removed. Idempotent: a missing <dir> is fine.
# Usage: tools/cluster-down.sh <dir>
set -euo pipefail

[[ $# -eq 1 ]] || { echo "usage: $0 <dir>" >&2; exit 2; }
log() { printf '[cluster-down] %s\n' "$*" >&2; }
DIR="$1"
if [[ ! -d "$DIR" ]]; then log "$DIR: nothing to do"; exit 0; fi
DIR="$(cd "$DIR" && pwd)"
if [[ ! -f "$DIR/.stackbook-cluster" ]]; then
  log "ERROR: $DIR was not made by cluster-up.sh (no .stackbook-cluster marker); not touching it"
  exit 1
fi

# ours <name> <pid>: the pid is alive and runs the named binary
ours() { kill -0 "$2" 2>/dev/null && tr '\0' ' ' 2>/dev/null <"/proc/$2/cmdline" | grep -q "$1"; }

for name in kwok kube-scheduler kube-controller-manager kube-apiserver etcd; do
  pidfile="$DIR/$name.pid"
  [[ -f "$pidfile" ]] || continue
  pid="$(cat "$pidfile")"
  if [[ -n "$pid" ]] && ours "$name" "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 60); do ours "$name" "$pid" || break; sleep 0.25; done
    if ours "$name" "$pid"; then
      log "$name (pid $pid) ignored TERM: killing"
      kill -KILL "$pid" 2>/dev/null || true
      for _ in $(seq 1 20); do ours "$name" "$pid" || break; sleep 0.25; done
    fi
    log "$name (pid $pid) stopped"
  fi
  rm -f "$pidfile"
done
rm -rf "$DIR"
log "removed $DIR"
