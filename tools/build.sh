#!/usr/bin/env bash
# Builds the real-cluster tools (kube-apiserver + kube-controller-manager, etcd, the Pulumi CLI
# with its Node.js language host, the pulumi-kubernetes provider, kube-score, kube-linter) from
# Go modules into a cache outside the repo, keyed by version:
#   ${STACKBOOK_TOOLS_CACHE:-$HOME/.cache/stackbook-tools}/<tool>-<version>/bin/...
# Only missing binaries are built; throwaway Go modules live under <cache>/src (never the repo).
# Usage: tools/build.sh [all|ci|apiserver|etcd|pulumi|kube-provider|kwok|checkers|supply-chain|policy-controller|s3|controllers|<controller>|prometheus]...
#   (default: all; supply-chain, policy-controller, s3 and the controllers only when named;
#   ci: what every tier of .ci/run needs, within STACKBOOK_CI_DEADLINE, see ci_builds)
# Works non-interactively (CI=true, no stdin).
set -euo pipefail

TOOLS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "$TOOLS_DIR/versions.env"
CACHE="${STACKBOOK_TOOLS_CACHE:-$HOME/.cache/stackbook-tools}"
SRC="$CACHE/src"
mkdir -p "$CACHE" "$SRC"

export CGO_ENABLED=0
export GOFLAGS="-buildvcs=false -mod=mod"
export GOTOOLCHAIN=local
export GOWORK=off
export GONOSUMDB="${GONOSUMDB:-}" GOPRIVATE="${GOPRIVATE:-}"

log() { printf '[build] %s\n' "$*" >&2; }

# have <bin>...: all given binary paths exist and are executable
have() { local f; for f in "$@"; do [[ -x "$f" ]] || return 1; done; }

# fresh_module <dir> <module-name> <go-version>: a new throwaway module in <dir>
fresh_module() {
  rm -rf "$1"; mkdir -p "$1"
  printf 'module %s\n\ngo %s\n' "$2" "$3" >"$1/go.mod"
}

# mod_file <module@version>: downloads the module and prints the path of its go.mod in the cache
mod_file() {
  local f
  f="$(go mod download -json "$1" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')"
  [[ -f "$f" ]] || { log "cannot download $1"; return 1; }
  printf '%s\n' "$f"
}

# ---------------------------------------------------------------- kubernetes
build_apiserver() {
  local out="$CACHE/kubernetes-$KUBERNETES_VERSION/bin"
  if have "$out/kube-apiserver" "$out/kube-controller-manager" "$out/kube-scheduler"; then
    log "kubernetes $KUBERNETES_VERSION: cached ($out)"; return 0
  fi
  local mod="$SRC/kubernetes-$KUBERNETES_VERSION"
  fresh_module "$mod" stackbook.local/kube-build 1.23.0
  (
    cd "$mod"
    local gomod
    gomod="$(mod_file "k8s.io/kubernetes@$KUBERNETES_VERSION")"
    # same go / godebug lines as upstream (k8s pins GODEBUG defaults to its go line)
    go mod edit -go="$(sed -n 's/^go //p' "$gomod")"
    sed -n '/^godebug /p' "$gomod" >>go.mod
    go mod edit -require="k8s.io/kubernetes@$KUBERNETES_VERSION"
    # every staging module (k8s.io/x => ./staging/src/k8s.io/x) -> the published k8s.io/x v0.N.M
    local m n=0
    for m in $(sed -n 's#^[[:space:]]*\(k8s.io/[^ ]*\) => ./staging/.*#\1#p' "$gomod"); do
      go mod edit -replace="$m=$m@$KUBERNETES_STAGING_VERSION"; n=$((n + 1))
    done
    log "kubernetes: replaced $n staging modules with $KUBERNETES_STAGING_VERSION"
    local ld="-s -w -X k8s.io/component-base/version.gitVersion=$KUBERNETES_VERSION"
    local minor="${KUBERNETES_VERSION#v1.}"; minor="${minor%%.*}"
    ld+=" -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor"
    ld+=" -X k8s.io/component-base/version.gitTreeState=clean"
    ld+=" -X k8s.io/client-go/pkg/version.gitVersion=$KUBERNETES_VERSION"
    ld+=" -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=$minor"
    rm -rf "$out.tmp"; mkdir -p "$out.tmp"
    go build -trimpath -ldflags "$ld" -o "$out.tmp/" \
      k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
      k8s.io/kubernetes/cmd/kube-scheduler
  )
  rm -rf "$out"; mv "$out.tmp" "$out"
  "$out/kube-apiserver" --version
}

# copy_replaces <upstream go.mod>: copies its module replace lines (not the ../path ones, which
# point into the upstream repo checkout) into the current throwaway module
copy_replaces() {
  local r
  for r in $(awk '/=>/ {
      line = $0; sub(/^[ \t]*replace[ \t]+/, "", line); sub(/^[ \t]+/, "", line); sub(/[ \t]*\/\/.*$/, "", line)
      split(line, a, /[ \t]*=>[ \t]*/); n = split(a[2], r, /[ \t]+/)
      if (r[1] ~ /^[.\/]/ || n < 2) next
      m = split(a[1], l, /[ \t]+/); old = l[1]; if (m > 1 && l[2] != "") old = old "@" l[2]
      print old "=" r[1] "@" r[2] }' "$1"); do
    go mod edit -replace="$r"
  done
}

# proxy_refuses <module@version>: true when the module proxy refuses the module (403 etc.)
proxy_refuses() {
  local out
  out="$(go mod download -json "$1" 2>&1 || true)"
  if grep -q '"Error"' <<<"$out"; then
    log "UNAVAILABLE: $1: $(sed -n 's/^[[:space:]]*"Error": "\(.*\)",\{0,1\}$/\1/p' <<<"$out" | head -1)"
    return 0
  fi
  return 1
}

# ---------------------------------------------------------------- etcd
build_etcd() {
  local out="$CACHE/etcd-$ETCD_VERSION/bin"
  if have "$out/etcd"; then log "etcd $ETCD_VERSION: cached ($out)"; return 0; fi
  local mod="$SRC/etcd-$ETCD_VERSION"
  fresh_module "$mod" stackbook.local/etcd-build 1.22
  (
    cd "$mod"
    local gomod; gomod="$(mod_file "go.etcd.io/etcd/server/v3@$ETCD_VERSION")"
    go mod edit -go="$(sed -n 's/^go //p' "$gomod")" -require="go.etcd.io/etcd/server/v3@$ETCD_VERSION"
    copy_replaces "$gomod"
    rm -rf "$out.tmp"; mkdir -p "$out.tmp"
    go build -trimpath -ldflags "-s -w" -o "$out.tmp/etcd" go.etcd.io/etcd/server/v3
  )
  rm -rf "$out"; mv "$out.tmp" "$out"
  "$out/etcd" --version | head -1
}

# ---------------------------------------------------------------- pulumi
# The CLI is github.com/pulumi/pulumi/pkg/v3/cmd/pulumi at PULUMI_VERSION. The module proxy refuses
# github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3 (403), so the Node.js language
# host is built from the newest github.com/pulumi/pulumi/sdk/v3 release the proxy serves that still
# had it inside the sdk module (PULUMI_LANGUAGE_NODEJS_SDK_VERSION). The sum database has no entry
# for these pulumi versions (404), hence GONOSUMDB for github.com/pulumi/pulumi (go.sum still
# records the hashes the proxy served).
pulumi_env() {
  export GONOSUMDB="github.com/pulumi/pulumi${GONOSUMDB:+,$GONOSUMDB}"
  export PULUMI_HOME="${STACKBOOK_PULUMI_HOME:-$CACHE/pulumi-home}" PULUMI_SKIP_UPDATE_CHECK=true
  export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
}

build_pulumi() {
  pulumi_env
  local out="$CACHE/pulumi-$PULUMI_VERSION/bin"
  if have "$out/pulumi" "$out/pulumi-resource-pulumi-nodejs"; then
    log "pulumi $PULUMI_VERSION: cached ($out)"
  else
    local mod="$SRC/pulumi-$PULUMI_VERSION" start=$SECONDS
    fresh_module "$mod" stackbook.local/pulumi-build 1.25
    (
      cd "$mod"
      local gomod sdkdir
      gomod="$(mod_file "github.com/pulumi/pulumi/pkg/v3@$PULUMI_VERSION")"
      go mod edit -go="$(sed -n 's/^go //p' "$gomod")" \
        -require="github.com/pulumi/pulumi/pkg/v3@$PULUMI_VERSION" \
        -require="github.com/pulumi/pulumi/sdk/v3@$PULUMI_VERSION"
      copy_replaces "$gomod"
      rm -rf "$out.tmp"; mkdir -p "$out.tmp"
      go build -trimpath -tags osusergo,grpcnotrace \
        -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$PULUMI_VERSION" \
        -o "$out.tmp/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
      # the dynamic-provider launcher script ships in the sdk module (nodejs/dist)
      sdkdir="$(go mod download -json "github.com/pulumi/pulumi/sdk/v3@$PULUMI_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
      install -m 0755 "$sdkdir/nodejs/dist/pulumi-resource-pulumi-nodejs" "$out.tmp/"
    )
    rm -rf "$out"; mv "$out.tmp" "$out"
    log "pulumi CLI: $((SECONDS - start))s"
  fi
  "$out/pulumi" version

  local lout="$CACHE/pulumi-language-nodejs-$PULUMI_LANGUAGE_NODEJS_SDK_VERSION/bin"
  if have "$lout/pulumi-language-nodejs"; then
    log "pulumi-language-nodejs $PULUMI_LANGUAGE_NODEJS_SDK_VERSION: cached ($lout)"
  else
    build_language_nodejs "$lout"
  fi
  # Next to the CLI (the engine then uses it without a "using pulumi-language-nodejs from $PATH"
  # warning), a launcher that passes the "typescript" runtime option as the -typescript flag: the
  # v3.68 host reads it only from that flag, while the 3.248 engine sends Pulumi.yaml's runtime
  # options over gRPC. Without this, `typescript: false` is ignored and ts-node is always loaded.
  write_language_launcher "$lout/pulumi-language-nodejs" >"$out/pulumi-language-nodejs.tmp"
  chmod 0755 "$out/pulumi-language-nodejs.tmp"
  mv -f "$out/pulumi-language-nodejs.tmp" "$out/pulumi-language-nodejs"
  # Policy packs: the v3.68 Node.js host cannot run one (`could not read plugin ... not supported`).
  # When no language plugin has a pack's runtime name, the engine runs the analyzer plugin
  # `policy-<runtime>` instead (pulumi v3.248 sdk/go/common/resource/plugin/analyzer_plugin.go:159-171,
  # NewPolicyAnalyzer). The launcher of the same sdk (nodejs/dist/pulumi-analyzer-policy: node
  # @pulumi/pulumi/cmd/run-policy-pack) is registered in PULUMI_HOME as analyzer `policy-nodejspolicy`;
  # the tier gives its copy of the pack that runtime. Not on $PATH: the engine would take it as an
  # ambient plugin and warn "using pulumi-analyzer-policy-nodejspolicy from $PATH"
  # (sdk/go/common/workspace/plugins.go:2138-2196; only PULUMI_HOME plugins are silent).
  rm -f "$out/pulumi-analyzer-policy-nodejspolicy" # where build.sh put it before: on PATH
  local sdk68 aout="$CACHE/pulumi-analyzer-policy-$PULUMI_LANGUAGE_NODEJS_SDK_VERSION"
  sdk68="$(go mod download -json "github.com/pulumi/pulumi/sdk/v3@$PULUMI_LANGUAGE_NODEJS_SDK_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  mkdir -p "$aout"
  install -m 0755 "$sdk68/nodejs/dist/pulumi-analyzer-policy" "$aout/pulumi-analyzer-policy-nodejspolicy"
  register_plugin analyzer policy-nodejspolicy "${PULUMI_LANGUAGE_NODEJS_SDK_VERSION#v}" "$aout/pulumi-analyzer-policy-nodejspolicy"
}

# register_plugin <kind> <name> <version> <file>: installs <file> into env.sh's PULUMI_HOME as that
# plugin (offline, `pulumi plugin install --file`). Runs on every path, cached builds included, and
# again when the registered copy differs from <file>.
register_plugin() {
  local kind="$1" name="$2" ver="$3" bin="$4"
  local pulumi_bin="$CACHE/pulumi-$PULUMI_VERSION/bin/pulumi"
  local dir="$PULUMI_HOME/plugins/$kind-$name-v$ver"
  local dest="$dir/pulumi-$kind-$name"
  if ! have "$pulumi_bin"; then
    log "$kind $name: pulumi CLI not built yet, plugin not registered"; return 1
  fi
  if [[ -x "$dest" ]] && cmp -s "$bin" "$dest"; then
    log "plugin $kind-$name v$ver registered ($dest)"; return 0
  fi
  rm -rf "$dir" "$dir.lock"
  "$pulumi_bin" plugin install "$kind" "$name" "$ver" --file "$bin" >&2
  [[ -x "$dest" ]] || { log "plugin $kind-$name v$ver: not found at $dest after pulumi plugin install"; return 1; }
  log "registered plugin $kind-$name v$ver ($dest)"
}

# write_language_launcher <real host binary>: prints the launcher script
write_language_launcher() {
  cat <<EOF
#!/bin/sh
# Written by stackbook tools/build.sh. The Node.js language host built from sdk $PULUMI_LANGUAGE_NODEJS_SDK_VERSION learns the
# "typescript" runtime option only from its -typescript flag, which the $PULUMI_VERSION engine no longer
# passes (it sends Pulumi.yaml's runtime options over gRPC, which that host does not read).
# Use PULUMI_NODEJS_TYPESCRIPT if set, else "typescript: false" in the nearest Pulumi.yaml above
# the directory the engine starts the host in (the program directory).
ts="\${PULUMI_NODEJS_TYPESCRIPT:-}"
if [ -z "\$ts" ]; then
  ts=true d="\$PWD"
  while :; do
    for f in "\$d/Pulumi.yaml" "\$d/Pulumi.yml"; do
      if [ -f "\$f" ]; then
        grep -Eq '^[[:space:]]+typescript:[[:space:]]*("?false"?)[[:space:]]*(#.*)?\$' "\$f" && ts=false
        break 2
      fi
    done
    [ "\$d" = / ] && break
    d="\$(dirname "\$d")"
  done
fi
exec "$1" -typescript="\$ts" "\$@"
EOF
}

build_language_nodejs() {
  local lout="$1" start=$SECONDS
  local lmod="$SRC/pulumi-language-nodejs-$PULUMI_LANGUAGE_NODEJS_SDK_VERSION"
  fresh_module "$lmod" stackbook.local/pulumi-language-nodejs-build 1.18
  (
    cd "$lmod"
    local gomod; gomod="$(mod_file "github.com/pulumi/pulumi/sdk/v3@$PULUMI_LANGUAGE_NODEJS_SDK_VERSION")"
    go mod edit -go="$(sed -n 's/^go //p' "$gomod")" \
      -require="github.com/pulumi/pulumi/sdk/v3@$PULUMI_LANGUAGE_NODEJS_SDK_VERSION"
    copy_replaces "$gomod"
    rm -rf "$lout.tmp"; mkdir -p "$lout.tmp"
    go build -trimpath -tags osusergo \
      -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$PULUMI_LANGUAGE_NODEJS_SDK_VERSION" \
      -o "$lout.tmp/pulumi-language-nodejs" github.com/pulumi/pulumi/sdk/v3/nodejs/cmd/pulumi-language-nodejs
  )
  rm -rf "$lout"; mv "$lout.tmp" "$lout"
  log "pulumi-language-nodejs: $((SECONDS - start))s"
}

# ---------------------------------------------------------------- pulumi-kubernetes provider
# provider/cmd/pulumi-resource-kubernetes/main.go embeds schema-embed.json (schema.json with the
# version stamped in, minified) and terraform-mapping-embed.json, which upstream generates at
# build time. They are generated here into a copy of that main package inside the throwaway module.
build_kube_provider() {
  pulumi_env
  export GONOSUMDB="github.com/pulumi/pulumi-kubernetes,$GONOSUMDB"
  local modver="$PULUMI_KUBERNETES_MODULE_VERSION"
  local out="$CACHE/pulumi-kubernetes-$modver/bin"
  if have "$out/pulumi-resource-kubernetes"; then
    log "pulumi-kubernetes $modver: cached ($out)"
  else
    local modpath="github.com/pulumi/pulumi-kubernetes/provider/v4"
    if proxy_refuses "$modpath@$modver"; then return 3; fi
    local mod="$SRC/pulumi-kubernetes-$modver"
    fresh_module "$mod" stackbook.local/pulumi-kubernetes-build 1.24
    (
      cd "$mod"
      local gomod dir ver="${PULUMI_KUBERNETES_VERSION#v}"
      gomod="$(mod_file "$modpath@$modver")"
      dir="$(go mod download -json "$modpath@$modver" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
      go mod edit -go="$(sed -n 's/^go //p' "$gomod")" -require="$modpath@$modver"
      copy_replaces "$gomod"
      # the module root is the repo's provider/ dir; copy its main package (minus the go:generate
      # helper and tests) so the embedded JSON files can be generated next to it. The schema is
      # stamped with the plugin label (the version the engine and the npm SDK agree on).
      local cmddir="$dir/cmd/pulumi-resource-kubernetes" f
      for f in "$cmddir"/*.go; do
        [[ "$f" != *_test.go && "$(basename "$f")" != generate.go ]] || continue
        install -m 0644 "$f" .
      done
      jq -c --arg v "$ver" '.version = $v' "$cmddir/schema.json" >schema-embed.json
      if [[ -f "$cmddir/terraform-mapping.json" ]]; then
        jq -c . "$cmddir/terraform-mapping.json" >terraform-mapping-embed.json
      else
        echo '{}' >terraform-mapping-embed.json
      fi
      rm -rf "$out.tmp"; mkdir -p "$out.tmp"
      go build -trimpath \
        -ldflags "-s -w -X $modpath/pkg/version.Version=$PULUMI_KUBERNETES_VERSION" \
        -o "$out.tmp/pulumi-resource-kubernetes" .
    )
    rm -rf "$out"; mv "$out.tmp" "$out"
  fi
  register_kube_provider "$out/pulumi-resource-kubernetes"
}

# register_kube_provider <binary>: installs the provider into env.sh's PULUMI_HOME under the plugin
# label the npm SDK asks for (exact version, offline). Runs on every path, cached build included,
# and again when the registered copy differs from the binary (a rebuilt module version).
register_kube_provider() {
  register_plugin resource kubernetes "${PULUMI_KUBERNETES_VERSION#v}" "$1"
}

# ---------------------------------------------------------------- kwok
# Simulated nodes and Pod status for the tier: Pods get scheduled by the real kube-scheduler onto
# kwok nodes, which kwok marks Running/Ready with an IP (so EndpointSlices fill).
build_kwok() {
  local out="$CACHE/kwok-$KWOK_VERSION/bin"
  if have "$out/kwok"; then
    log "kwok $KWOK_VERSION: cached ($out)"
  else
    if proxy_refuses "sigs.k8s.io/kwok@$KWOK_VERSION"; then return 3; fi
    rm -rf "$out.tmp"; mkdir -p "$out.tmp"
    GOBIN="$out.tmp" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
    rm -rf "$out"; mv "$out.tmp" "$out"
  fi
  kwok_stages "$CACHE/kwok-$KWOK_VERSION/stages.yaml"
}

# kwok_stages <file>: the standalone kwok binary simulates nothing without Stage objects (kwokctl
# embeds them; `kwok --config` must name them). Writes the module's own "fast" set, as kwokctl's
# default: kustomize/stage/node/fast (Ready on creation), node/heartbeat-with-lease, pod/fast
# (Pods Running/Ready with an IP, Job Pods Succeeded, deletion finished). Taken from the module
# cache at the pinned version on every run (cheap), never committed.
kwok_stages() {
  local dest="$1" dir f
  dir="$(go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  [[ -n "$dir" ]] || { log "kwok: module source not found"; return 1; }
  : >"$dest.tmp"
  for f in node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
    pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
    { echo '---'; cat "$dir/kustomize/stage/$f"; } >>"$dest.tmp"
  done
  mv "$dest.tmp" "$dest"
}

# ---------------------------------------------------------------- S3 server for the backup tier
# versitygw (POSIX backend in a temp dir) is the S3 endpoint tools/test-backups.mjs runs every
# `aws s3` call of the rendered backup and drill scripts against, and mc for the MinIO Jobs.
# Not part of `all`.
build_s3() {
  local out="$CACHE/versitygw-$VERSITYGW_VERSION/bin"
  if have "$out/versitygw"; then log "versitygw $VERSITYGW_VERSION: cached ($out)"; return 0; fi
  if proxy_refuses "github.com/versity/versitygw@$VERSITYGW_VERSION"; then return 3; fi
  local start=$SECONDS
  rm -rf "$out.tmp"; mkdir -p "$out.tmp"
  GOBIN="$out.tmp" go install -trimpath -ldflags "-s -w" "github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION"
  rm -rf "$out"; mv "$out.tmp" "$out"
  log "versitygw: $((SECONDS - start))s"
}
# mc, the MinIO client the minio-buckets and minio-lifecycle Jobs run (see versions.env for the version)
build_mc() {
  local out="$CACHE/mc-$MC_MODULE_VERSION/bin"
  if have "$out/mc"; then log "mc $MC_MODULE_VERSION: cached ($out)"; return 0; fi
  if proxy_refuses "github.com/minio/mc@$MC_MODULE_VERSION"; then return 3; fi
  local start=$SECONDS
  rm -rf "$out.tmp"; mkdir -p "$out.tmp"
  GOBIN="$out.tmp" go install -trimpath -ldflags "-s -w" "github.com/minio/mc@$MC_MODULE_VERSION"
  rm -rf "$out"; mv "$out.tmp" "$out"
  log "mc: $((SECONDS - start))s"
}

# ---------------------------------------------------------------- manifest checkers
build_checkers() {
  local rc=0
  local out="$CACHE/kube-score-$KUBE_SCORE_VERSION/bin"
  if have "$out/kube-score"; then
    log "kube-score $KUBE_SCORE_VERSION: cached ($out)"
  else
    local start=$SECONDS
    rm -rf "$out.tmp"; mkdir -p "$out.tmp"
    GOBIN="$out.tmp" go install -trimpath \
      -ldflags "-s -w -X main.version=${KUBE_SCORE_VERSION#v}" \
      "github.com/zegl/kube-score/cmd/kube-score@$KUBE_SCORE_VERSION"
    rm -rf "$out"; mv "$out.tmp" "$out"
    log "kube-score: $((SECONDS - start))s"
  fi
  out="$CACHE/kube-linter-$KUBE_LINTER_VERSION/bin"
  if have "$out/kube-linter"; then
    log "kube-linter $KUBE_LINTER_VERSION: cached ($out)"
  elif proxy_refuses "golang.stackrox.io/kube-linter@$KUBE_LINTER_VERSION"; then
    rc=3
  else
    local start=$SECONDS
    rm -rf "$out.tmp"; mkdir -p "$out.tmp"
    GOBIN="$out.tmp" go install -trimpath \
      -ldflags "-s -w -X golang.stackrox.io/kube-linter/internal/version.version=$KUBE_LINTER_VERSION" \
      "golang.stackrox.io/kube-linter/cmd/kube-linter@$KUBE_LINTER_VERSION"
    rm -rf "$out"; mv "$out.tmp" "$out"
    log "kube-linter: $((SECONDS - start))s"
  fi
  return $rc
}

# ---------------------------------------------------------------- supply chain
# cosign signs and verifies the bundle artifact and the test images; crane builds and copies tiny
# test images; registry (go-containerregistry's in-memory registry) stands for the public side and
# for the site mirror; policy-controller's webhook admits Pods by signature.
build_supply_chain() {
  local out="$CACHE/cosign-$COSIGN_VERSION/bin" start=$SECONDS
  if have "$out/cosign"; then
    log "cosign $COSIGN_VERSION: cached ($out)"
  else
    if proxy_refuses "github.com/sigstore/cosign/v2@$COSIGN_VERSION"; then return 3; fi
    rm -rf "$out.tmp"; mkdir -p "$out.tmp"
    GOBIN="$out.tmp" go install -trimpath \
      -ldflags "-s -w -X sigs.k8s.io/release-utils/version.gitVersion=$COSIGN_VERSION" \
      "github.com/sigstore/cosign/v2/cmd/cosign@$COSIGN_VERSION"
    rm -rf "$out"; mv "$out.tmp" "$out"
    log "cosign: $((SECONDS - start))s"
  fi
  out="$CACHE/ggcr-$GGCR_VERSION/bin"; start=$SECONDS
  if have "$out/crane" "$out/registry"; then
    log "crane/registry $GGCR_VERSION: cached ($out)"
  else
    if proxy_refuses "github.com/google/go-containerregistry@$GGCR_VERSION"; then return 3; fi
    rm -rf "$out.tmp"; mkdir -p "$out.tmp"
    GOBIN="$out.tmp" go install -trimpath -ldflags "-s -w" \
      "github.com/google/go-containerregistry/cmd/crane@$GGCR_VERSION" \
      "github.com/google/go-containerregistry/cmd/registry@$GGCR_VERSION"
    rm -rf "$out"; mv "$out.tmp" "$out"
    log "crane/registry: $((SECONDS - start))s"
  fi
}

build_policy_controller() {
  local out="$CACHE/policy-controller-$POLICY_CONTROLLER_VERSION/bin" start=$SECONDS
  if have "$out/policy-controller-webhook" "$out/policy-tester"; then
    log "policy-controller $POLICY_CONTROLLER_VERSION: cached ($out)"; return 0
  fi
  local modpath="github.com/sigstore/policy-controller"
  if proxy_refuses "$modpath@$POLICY_CONTROLLER_VERSION"; then return 3; fi
  local mod="$SRC/policy-controller-$POLICY_CONTROLLER_VERSION"
  fresh_module "$mod" stackbook.local/policy-controller-build 1.24
  (
    cd "$mod"
    local gomod; gomod="$(mod_file "$modpath@$POLICY_CONTROLLER_VERSION")"
    go mod edit -go="$(sed -n 's/^go //p' "$gomod")" -require="$modpath@$POLICY_CONTROLLER_VERSION"
    copy_replaces "$gomod"
    rm -rf "$out.tmp"; mkdir -p "$out.tmp"
    go build -trimpath -ldflags "-s -w" -o "$out.tmp/policy-controller-webhook" "$modpath/cmd/webhook"
    # policy-tester: the same pkg/policy Compile/Verify the webhook runs, on one image, from the CLI
    go build -trimpath -ldflags "-s -w" -o "$out.tmp/policy-tester" "$modpath/cmd/tester"
  )
  rm -rf "$out"; mv "$out.tmp" "$out"
  log "policy-controller: $((SECONDS - start))s"
}


# ---------------------------------------------------------------- controllers (issue 15)
# build_go_main <tool> <version> <module> <go build packages...>: builds upstream main packages from
# a throwaway module that requires <module>@<version> with the upstream go.mod's go line and its
# module replaces (not the ./path ones). Binaries land in <cache>/<tool>-<version>/bin; the cold
# build time is written next to them (build-seconds) for the controllers tier's report.
# BUILD_TAGS / BUILD_LDFLAGS / BUILD_TOOLCHAIN (a go toolchain name, see below) are optional.
build_go_main() {
  local tool="$1" ver="$2" modpath="$3"; shift 3
  local out="$CACHE/$tool-$ver/bin" bins=() p
  # BUILD_MODULE_VERSION: the module version when it differs from the tool's release label
  local label="$ver"; ver="${BUILD_MODULE_VERSION:-$ver}"
  for p in "$@"; do bins+=("$out/${p##*/}"); done
  if have "${bins[@]}"; then log "$tool $ver: cached ($out)"; return 0; fi
  if proxy_refuses "$modpath@$ver"; then return 3; fi
  local mod="$SRC/$tool-$label" start=$SECONDS
  fresh_module "$mod" "stackbook.local/$tool-build" 1.22
  (
    cd "$mod"
    local gomod; gomod="$(mod_file "$modpath@$ver")"
    go mod edit -go="$(sed -n 's/^go //p' "$gomod")" -require="$modpath@$ver"
    copy_replaces "$gomod"
    local r; for r in ${BUILD_EXTRA_REPLACES:-}; do go mod edit -replace="$r"; done
    rm -rf "$out.tmp"; mkdir -p "$out.tmp"
    go build -trimpath ${BUILD_TAGS:+-tags "$BUILD_TAGS"} -ldflags "-s -w ${BUILD_LDFLAGS:-}" -o "$out.tmp/" "$@"
  )
  echo "$((SECONDS - start))" >"$out.tmp/build-seconds"
  rm -rf "$out"; mv "$out.tmp" "$out"
  log "$tool $ver: built in $((SECONDS - start))s"
}

build_external_secrets() {
  build_go_main external-secrets "$EXTERNAL_SECRETS_VERSION" github.com/external-secrets/external-secrets \
    github.com/external-secrets/external-secrets
}

# Vault's go.mod replaces vault/api and vault/sdk with ./api and ./sdk (its own checkout, not in the
# module zip); outside it the published sdk its go.mod requires is used instead, and that is older
# than the code (re-checked 2026-12-07):
# - v1.21.4 (sdk v0.21.0) FAILS after 2178 s: vault/identity_store.go:119 ActivationFunc without the
#   string argument every published sdk v0.19.0 ... v0.25.1 has, builtin/logical/transit/
#   path_restore.go:64 RestorePolicy returning (string, error) (sdk >= v0.24.0): no published sdk
#   matches both; the sdk at the release commit is refused by the proxy (403 for sdk@<commit>).
# - v1.20.4 with its sdk v0.18.0 FAILS: vault/plugincatalog/plugin_catalog.go:876..1166 uses
#   pluginutil.PluginRunner.Download / SetPluginInput.Download, which sdk v0.18.0 lacks.
# - v1.20.4 with sdk v0.19.0 (the last sdk published before v1.20.4: has Download and the
#   ActivationFunc / RestorePolicy signatures v1.20.4 calls) FAILS: plugins/database/mysql/
#   connection_producer.go:322 calls connutil.GetCloudSQLAuthOptions with 2 arguments, v0.19.0
#   wants 3.
# - v1.19.5 with its sdk v0.15.2 FAILS: vault/plugincatalog/plugin_metadata.go:21 consts.PluginTier,
#   plugin_catalog.go:876 PluginRunner.Tier are not in v0.15.2.
# The release branches carry sdk changes no published sdk version has; the proxy serves no
# pseudo-version of sdk/api at a release commit (403), so the controllers tier keeps its Vault API
# stand-in. The failure is recorded in <cache>/vault-<version>.failed so runs do not retry it.
# VAULT_VERSION / VAULT_SDK_VERSION name the pair tried last (docs/controllers.md).
build_vault() {
  BUILD_EXTRA_REPLACES="github.com/hashicorp/vault/sdk=github.com/hashicorp/vault/sdk@$VAULT_SDK_VERSION" \
  BUILD_LDFLAGS="-X github.com/hashicorp/vault/version.Version=${VAULT_VERSION#v}" \
    build_go_main vault "$VAULT_VERSION" github.com/hashicorp/vault github.com/hashicorp/vault
}

# KEDA v2.21 needs a newer go than the local one: the go command fetches that toolchain
# (golang.org/toolchain, through the module proxy) for this build only.
build_keda() {
  GOTOOLCHAIN="$KEDA_GO_TOOLCHAIN" build_go_main keda "$KEDA_VERSION" github.com/kedacore/keda/v2 \
    github.com/kedacore/keda/v2/cmd/operator
}

build_prometheus_operator() {
  build_go_main prometheus-operator "$PROMETHEUS_OPERATOR_VERSION" \
    github.com/prometheus-operator/prometheus-operator \
    github.com/prometheus-operator/prometheus-operator/cmd/operator
}

# cert-manager: since v1.12 the controller's main package is its own module,
# github.com/cert-manager/cert-manager/cmd/controller, and the module proxy serves no version of it
# (404 for v1.12.0 ... v1.21.2 and @latest, checked 2026-12-07); the main module it wires together
# (pkg/controller/...) has no main package. Building it would mean rewriting cmd/controller/app.
# v1.11.x is the last release with cmd/controller inside the main module, which the proxy serves:
# the tier builds CERT_MANAGER_FALLBACK_VERSION from there and labels its results with that version.
build_cert_manager() {
  if ! proxy_refuses "github.com/cert-manager/cert-manager/cmd/controller@$CERT_MANAGER_VERSION"; then
    build_go_main cert-manager "$CERT_MANAGER_VERSION" github.com/cert-manager/cert-manager/cmd/controller \
      github.com/cert-manager/cert-manager/cmd/controller
    return
  fi
  log "cert-manager: falling back to $CERT_MANAGER_FALLBACK_VERSION (cmd/controller inside the main module)"
  build_go_main cert-manager "$CERT_MANAGER_FALLBACK_VERSION" github.com/cert-manager/cert-manager \
    github.com/cert-manager/cert-manager/cmd/controller
  # the HTTP-01 solver the controller's solver Pods run (cmd/acmesolver, same module and version):
  # the tier runs it as the process standing for each solver Pod (docs/controllers.md)
  build_go_main acmesolver "$CERT_MANAGER_FALLBACK_VERSION" github.com/cert-manager/cert-manager \
    github.com/cert-manager/cert-manager/cmd/acmesolver
}

# Prometheus with its Kubernetes service discovery, for the controllers tier's discovery check
# (Debian's prometheus 2.42 is built without kubernetes_sd_configs). The version is the one
# prometheus-operator v0.85.0 deploys by default (pkg/operator/defaults.go DefaultPrometheusVersion,
# v3.5.0), published as module github.com/prometheus/prometheus v0.305.0 (cmd/prometheus; the web UI
# is not embedded: the tier uses the HTTP API only).
build_prometheus() {
  BUILD_LDFLAGS="-X github.com/prometheus/common/version.Version=${PROMETHEUS_VERSION#v} -X github.com/prometheus/common/version.Branch=module-$PROMETHEUS_MODULE_VERSION" \
    BUILD_MODULE_VERSION="$PROMETHEUS_MODULE_VERSION" build_go_main prometheus "$PROMETHEUS_VERSION" github.com/prometheus/prometheus \
    github.com/prometheus/prometheus/cmd/prometheus github.com/prometheus/prometheus/cmd/promtool
}

build_pebble() {
  build_go_main pebble "$PEBBLE_VERSION" github.com/letsencrypt/pebble/v2 \
    github.com/letsencrypt/pebble/v2/cmd/pebble
}


# run_step <name> <function>: runs one build step with errexit in a subshell, prints its time and
# records the outcome (0 ok, 3 source refused by the module proxy, other: failed)
declare -a SUMMARY=()
FAILED=0 UNAVAILABLE=0
run_step() {
  local name="$1" start=$SECONDS rc=0; shift
  set +e; ( set -e; "$@" ); rc=$?; set -e
  local took=$((SECONDS - start)) what=ok
  case "$rc" in 0) ;; 3) what=UNAVAILABLE; UNAVAILABLE=1 ;; *) what="FAILED (exit $rc)"; FAILED=1 ;; esac
  log "$name: $what in ${took}s"
  SUMMARY+=("$(printf '%-14s %-22s %5ss' "$name" "$what" "$took")")
}

# ci_builds: every tier's tools within one budget (.ci/run, docs/ci.md). Walks the targets in the
# order tools/lib/build-budget.mjs plans them; before each build the plan is made again with the
# clock and the cache as they are now, and the target is built only if it is still in the plan, each
# in its own build.sh process under `timeout` (GNU timeout signals its whole process group, so the
# go compilers it started stop too) until the time the builds may use. A skipped or stopped target
# is recorded as NOT BUILT with its reason (STACKBOOK_BUILD_REASONS) and does not fail; a build that
# fails does. The per-tier verdict goes to STACKBOOK_BUILD_TIERS (tier, RUN|NOT BUILT, reason).
ci_builds() {
  local budget="$TOOLS_DIR/lib/build-budget.mjs" t g secs rc start
  local reasons="${STACKBOOK_BUILD_REASONS:-$(mktemp)}"
  : >"$reasons"
  export STACKBOOK_BUILD_FAILED=""
  for t in $(node "$budget" order); do
    g="$(node "$budget" gate "$t")"
    start=$SECONDS
    case "$g" in
      cached) set +e; bash "$0" "$t"; rc=$?; set -e ;;
      build\ *)
        secs="${g#build }"
        log "$t: building (cold estimate in tools/lib/build-budget.mjs; the builds may use ${secs:-?} s more)"
        set +e
        if [[ "$secs" == 0 ]]; then bash "$0" "$t"; else timeout -k 30 "$secs" bash "$0" "$t"; fi
        rc=$?; set -e ;;
      skip\ *)
        log "$t: BLOCKED — NOT BUILT: ${g#skip }"
        printf '%s\t%s\n' "$t" "${g#skip }" >>"$reasons"
        SUMMARY+=("$(printf '%-14s %-22s %5ss' "$t" "NOT BUILT" 0)"); continue ;;
      *) log "$t: build-budget.mjs answered '$g'"; FAILED=1; continue ;;
    esac
    local what=ok
    case "$rc" in
      0) ;;
      3) what=UNAVAILABLE; UNAVAILABLE=1 ;;
      124|137) what="NOT BUILT"
         printf '%s\t%s\n' "$t" "build stopped at the CI deadline after $((SECONDS - start)) s" >>"$reasons" ;;
      *) what="FAILED (exit $rc)"; FAILED=1; STACKBOOK_BUILD_FAILED+=" $t"
         printf '%s\t%s\n' "$t" "build failed (exit $rc)" >>"$reasons" ;;
    esac
    SUMMARY+=("$(printf '%-14s %-22s %5ss' "$t" "$what" "$((SECONDS - start))")")
  done
  log "tiers (tools/lib/build-budget.mjs CI_TIERS):"
  node "$budget" report "$reasons" | tee "${STACKBOOK_BUILD_TIERS:-/dev/null}" | sed 's/^/[build]   /' >&2
}

main() {
  local targets=("$@") t
  [[ ${#targets[@]} -gt 0 ]] || targets=(all)
  for t in "${targets[@]}"; do
    case "$t" in
      all) run_step apiserver build_apiserver; run_step etcd build_etcd; run_step pulumi build_pulumi
           run_step kube-provider build_kube_provider; run_step kwok build_kwok
           run_step checkers build_checkers ;;
      ci) ci_builds ;;
      supply-chain) run_step supply-chain build_supply_chain ;;
      policy-controller) run_step policy-controller build_policy_controller ;;
      apiserver) run_step apiserver build_apiserver ;;
      etcd) run_step etcd build_etcd ;;
      pulumi) run_step pulumi build_pulumi ;;
      kube-provider) run_step kube-provider build_kube_provider ;;
      kwok) run_step kwok build_kwok ;;
      checkers) run_step checkers build_checkers ;;
      s3) run_step s3 build_s3; run_step mc build_mc ;;
      # order of value per minute of a cold build (tools/lib/build-budget.mjs, docs/controllers.md):
      # Vault last, no release builds from the proxy's modules today
      controllers) run_step prometheus-operator build_prometheus_operator; run_step pebble build_pebble
           run_step cert-manager build_cert_manager; run_step prometheus build_prometheus
           run_step external-secrets build_external_secrets; run_step keda build_keda; run_step vault build_vault ;;
      external-secrets) run_step external-secrets build_external_secrets ;;
      vault) run_step vault build_vault ;;
      keda) run_step keda build_keda ;;
      prometheus-operator) run_step prometheus-operator build_prometheus_operator ;;
      cert-manager) run_step cert-manager build_cert_manager ;;
      pebble) run_step pebble build_pebble ;;
      prometheus) run_step prometheus build_prometheus ;;
      *) echo "usage: $0 [all|ci|apiserver|etcd|pulumi|kube-provider|kwok|checkers|supply-chain|policy-controller|s3|controllers|<controller>]..." >&2; exit 2 ;;
    esac
  done
  log "summary (cache: $CACHE):"
  printf '[build]   %s\n' "${SUMMARY[@]}" >&2
  if [[ $FAILED == 1 ]]; then exit 1; fi
  if [[ $UNAVAILABLE == 1 ]]; then
    log "some tools are unavailable here (module proxy refused their source)"
    [[ "${STACKBOOK_TOOLS_STRICT:-0}" == 1 ]] && exit 3
  fi
  return 0
}

main "$@" </dev/null
