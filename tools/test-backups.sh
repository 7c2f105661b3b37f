#!/usr/bin/env bash
# The backup tier (issue 20, docs/backup-tests.md): installs what it needs, builds the S3 server,
# compiles the TypeScript, then runs tools/test-backups.mjs (every backup and restore-drill script
# of every stack against real servers on 127.0.0.1). Run by `npm run test:backups` and .ci/run.
# Needs root: the scripts run in their own mount namespaces (unshare) as the pods' UIDs (setpriv).
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $(id -u) -eq 0 ]] || { echo "test-backups: needs root (mount namespaces, setpriv as the pods' runAsUser)" >&2; exit 1; }

# program -> Debian package (bookworm). PostgreSQL 15: the server, and the pg_dump/pg_restore/initdb
# the scripts call (the images carry 18: docs/backup-tests.md). awscli 2.9 (images: 2.17).
declare -A PACKAGE=(
  [/usr/lib/postgresql/15/bin/initdb]=postgresql
  [/usr/bin/aws]=awscli
  [/usr/bin/sqlite3]=sqlite3
  [/usr/bin/openssl]=openssl        # the test CA of https endpoints
  [/usr/bin/promtool]=prometheus
  [/usr/bin/unshare]=util-linux
  [/usr/bin/setpriv]=util-linux
  # barman-cloud-backup connects with psycopg2: Debian's, seen by the barman venv (--system-site-packages)
  [/usr/lib/python3/dist-packages/psycopg2/__init__.py]=python3-psycopg2
  [/usr/share/doc/python3-venv]=python3-venv
)
missing=()
for f in "${!PACKAGE[@]}"; do [[ -e "$f" ]] || missing+=("${PACKAGE[$f]}"); done
if [[ ${#missing[@]} -gt 0 ]]; then
  IFS=$'\n' missing=($(sort -u <<<"${missing[*]}")); unset IFS
  echo "test-backups: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  had_policy=0; [[ -e /usr/sbin/policy-rc.d ]] && had_policy=1
  if [[ $had_policy == 0 ]]; then   # no daemon starts during the install: the tier starts its own
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get -o DPkg::Lock::Timeout=600 update -qq >/dev/null
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# versitygw and mc from the Go module proxy, cached by version (tools/build.sh s3)
source tools/versions.env
CACHE="${STACKBOOK_TOOLS_CACHE:-$HOME/.cache/stackbook-tools}"
export VERSITYGW="$CACHE/versitygw-$VERSITYGW_VERSION/bin/versitygw"
export MC="$CACHE/mc-$MC_MODULE_VERSION/bin/mc"
[[ -x "$VERSITYGW" && -x "$MC" ]] || bash tools/build.sh s3
[[ -x "$VERSITYGW" ]] || { echo "test-backups: versitygw $VERSITYGW_VERSION could not be built (tools/build.sh s3)" >&2; exit 1; }
[[ -x "$MC" ]] || { echo "test-backups: mc $MC_MODULE_VERSION could not be built (tools/build.sh s3)" >&2; exit 1; }

# moto (PyPI), the S3 server with the bucket lifecycle API (versitygw has none), in its own venv
MOTO_VERSION=5.2.1
MOTO_VENV="$CACHE/moto-$MOTO_VERSION"
if [[ ! -x "$MOTO_VENV/bin/moto_server" ]]; then
  if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
    apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends python3-venv >/dev/null
  fi
  rm -rf "$MOTO_VENV"
  python3 -m venv "$MOTO_VENV"
  "$MOTO_VENV/bin/pip" install -q "moto[server]==$MOTO_VERSION"
fi
export MOTO_SERVER="$MOTO_VENV/bin/moto_server"

# barman[cloud] (PyPI), the tools of the PostgreSQL point-in-time restore drill and of the Barman
# Cloud plugin's archiver: 3.19.1 is the version the CNPG operand images carry (postgres-containers
# docker-bake.hcl barmanVersion at a949ae5). Debian's python3 (the pods' UIDs run it), own venv.
BARMAN_VERSION=3.19.1
export BARMAN_VENV="$CACHE/barman-$BARMAN_VERSION"
if [[ ! -x "$BARMAN_VENV/bin/barman-cloud-restore" ]]; then
  rm -rf "$BARMAN_VENV"
  /usr/bin/python3 -m venv --system-site-packages "$BARMAN_VENV"
  timeout 15m "$BARMAN_VENV/bin/pip" install -q "barman[cloud]==$BARMAN_VERSION"
fi

npx tsc -p tsconfig.json
# Debian's aws first: the tier runs the scripts as the pods' UIDs, which cannot read a per-user install
PATH="/usr/bin:$PATH" exec node tools/test-backups.mjs "$@"
