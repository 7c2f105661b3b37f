#!/usr/bin/env bash
# The programs `npm test` runs as real processes, and the Debian package of each. Run by `npm test`
# (the `pretest` script) and by .ci/run, so both use this one list.
#
# Missing programs are installed with apt-get when that is possible (root, apt-get present), without
# starting their daemons (policy-rc.d refuses every service start during the install: the tests start
# their own instances on loopback). Otherwise it stops with one line naming the packages to install.
# STACKBOOK_NO_INSTALL=1: never install, only check.
set -euo pipefail

# program -> Debian package (bookworm)
declare -A PACKAGE=(
  [promtool]=prometheus            # alert-rule unit tests (promtool test rules)
  [redis-server]=redis-server      # replicated-Redis failover test
  [redis-sentinel]=redis-sentinel
  [redis-cli]=redis-tools
  [haproxy]=haproxy                # the Redis primary router in the failover test
  [sqlite3]=sqlite3                # the SQLite backup scripts run for real
  [openssl]=openssl                # signing keys for the bundle signature tests
  [kubectl]=kubectl                # `kubectl kustomize` of the bundle
  [gzip]=gzip
  [sha256sum]=coreutils
  [git]=git                        # `stackbook diff --base` tests
  [chromium]=chromium              # the HTML report opened in a real browser (playwright-core)
)

missing_pkgs=()
missing_cmds=()
for cmd in "${!PACKAGE[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 && continue
  missing_cmds+=("$cmd")
  pkg="${PACKAGE[$cmd]}"
  [[ " ${missing_pkgs[*]:-} " == *" $pkg "* ]] || missing_pkgs+=("$pkg")
done
# checkov (PyPI, pinned) in its own virtualenv: Debian's python3 refuses pip outside one (PEP 668).
# tools/checkov.mjs and test/checkov.test.ts find it there.
CHECKOV_VERSION=3.3.30
CHECKOV_VENV="$HOME/.cache/stackbook-checkov"
need_checkov=0
[[ -x "$CHECKOV_VENV/bin/checkov" ]] || command -v checkov >/dev/null 2>&1 || need_checkov=1
if [[ $need_checkov == 1 ]] && ! { python3 -m venv --help >/dev/null 2>&1 && python3 -c 'import ensurepip' >/dev/null 2>&1; }; then
  missing_cmds+=("python3-venv")
  missing_pkgs+=(python3-venv)
fi
install_checkov() {
  echo "test-deps: installing checkov $CHECKOV_VERSION (PyPI) into $CHECKOV_VENV" >&2
  python3 -m venv "$CHECKOV_VENV"
  "$CHECKOV_VENV/bin/pip" install -q "checkov==$CHECKOV_VERSION"
}
if [[ ${#missing_pkgs[@]} -eq 0 ]]; then
  [[ $need_checkov == 0 ]] && exit 0
  if [[ "${STACKBOOK_NO_INSTALL:-0}" != 1 ]]; then install_checkov; exit 0; fi
  echo "test-deps: the tests need checkov: python3 -m venv $CHECKOV_VENV && $CHECKOV_VENV/bin/pip install checkov==$CHECKOV_VERSION" >&2
  exit 1
fi

IFS=$'\n' missing_pkgs=($(sort <<<"${missing_pkgs[*]}")); unset IFS
if [[ "${STACKBOOK_NO_INSTALL:-0}" != 1 && $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
  echo "test-deps: installing Debian packages for ${missing_cmds[*]}: ${missing_pkgs[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  had_policy=0
  [[ -e /usr/sbin/policy-rc.d ]] && had_policy=1
  if [[ $had_policy == 0 ]]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  # wait for another apt run (a second test run, a package install) instead of failing on its lock
  apt-get -o DPkg::Lock::Timeout=600 update -qq >/dev/null
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing_pkgs[@]}" >/dev/null
  for cmd in "${missing_cmds[@]}"; do
    [[ $cmd == python3-venv ]] && continue
    command -v "$cmd" >/dev/null 2>&1 || { echo "test-deps: $cmd still missing after installing ${PACKAGE[$cmd]}" >&2; exit 1; }
  done
  [[ $need_checkov == 1 ]] && install_checkov
  exit 0
fi
echo "test-deps: the tests need ${missing_cmds[*]}: install the Debian packages ${missing_pkgs[*]} (apt-get install ${missing_pkgs[*]}), then run npm test again" >&2
exit 1
