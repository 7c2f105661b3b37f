# shellcheck shell=bash
# Source me (`source tools/env.sh`): puts the bin dirs of the tools cached by tools/build.sh on PATH
# and sets the offline Pulumi variables (no update check, no automatic plugin downloads, PULUMI_HOME
# under the cache). It does not set PULUMI_BACKEND_URL or KUBECONFIG: callers set those.
# It is sourced into the caller's shell, so it deliberately does not change shell options
# (no `set -euo pipefail` here: that would leak into the caller); it only sets variables.

_stackbook_tools_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "$_stackbook_tools_dir/versions.env"
export STACKBOOK_TOOLS_CACHE="${STACKBOOK_TOOLS_CACHE:-$HOME/.cache/stackbook-tools}"

# Not the pulumi-kubernetes provider: tools/build.sh registers it in PULUMI_HOME under the plugin
# version the npm SDK asks for; on PATH the engine would also take it as an ambient plugin and warn
# ("using pulumi-resource-kubernetes from $PATH"). Same for the policy analyzer
# (analyzer-policy-nodejspolicy, registered there too).
for _stackbook_bin in \
  "kubernetes-$KUBERNETES_VERSION" \
  "etcd-$ETCD_VERSION" \
  "pulumi-language-nodejs-$PULUMI_LANGUAGE_NODEJS_SDK_VERSION" \
  "kwok-$KWOK_VERSION" \
  "pulumi-$PULUMI_VERSION" \
  "kube-score-$KUBE_SCORE_VERSION" \
  "kube-linter-$KUBE_LINTER_VERSION"; do
  _stackbook_bin="$STACKBOOK_TOOLS_CACHE/$_stackbook_bin/bin"
  if [[ -d "$_stackbook_bin" && ":$PATH:" != *":$_stackbook_bin:"* ]]; then
    PATH="$_stackbook_bin:$PATH"
  fi
done
export PATH
unset _stackbook_bin _stackbook_tools_dir

export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
export PULUMI_HOME="${STACKBOOK_PULUMI_HOME:-$STACKBOOK_TOOLS_CACHE/pulumi-home}"
mkdir -p "$PULUMI_HOME"
