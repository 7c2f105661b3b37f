#!/usr/bin/env bash
# Starts a throwaway, secure, single-node control plane on 127.0.0.1 from the binaries cached by
# tools/build.sh: etcd (own free ports, data under <dir>, --unsafe-no-fsync), kube-apiserver
# (generated CA / serving / client / service-account keys, RBAC, PodSecurity enforce+audit+warn
# "restricted" by default) and kube-controller-manager (ReplicaSets create Pods, namespaces finish
# deleting). No kubelet: Pods stay Pending. Then installs every CRD under the shared CRD directory
# (conversion webhooks, which have no backend here, are switched to strategy None) and waits for
# them to be Established; then the hand-written test-only CRDs of tools/fixtures (kinds the shared
# directory has no CRD for, generated from test/crd-hand-checked.ts, not upstream files).
# Usage: tools/cluster-up.sh <dir>      -> writes <dir>/kubeconfig, <dir>/*.pid, <dir>/*.log
# Stop with tools/cluster-down.sh <dir>. Re-running on a healthy running <dir> only re-applies the
# CRDs; a stale <dir> from an earlier run is torn down and started afresh. On failure everything
# this script started is stopped and <dir> is removed (its logs are printed first).
# Env: STACKBOOK_TOOLS_CACHE (binary cache), STACKBOOK_CRDS_DIR (default <repo>/../shared/crds),
# STACKBOOK_APISERVER_ARGS (extra kube-apiserver flags, space-separated, appended; default none —
# the supply-chain tier passes --enable-aggregator-routing=true so admission webhooks behind a
# selector-less Service are called at their Endpoints address instead of the Service's DNS name).
set -euo pipefail

TOOLS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "$TOOLS_DIR/versions.env"
CACHE="${STACKBOOK_TOOLS_CACHE:-$HOME/.cache/stackbook-tools}"
CRDS_DIR="${STACKBOOK_CRDS_DIR:-$TOOLS_DIR/../../shared/crds}"
KUBECTL="${KUBECTL:-kubectl}"
APISERVER="$CACHE/kubernetes-$KUBERNETES_VERSION/bin/kube-apiserver"
KCM="$CACHE/kubernetes-$KUBERNETES_VERSION/bin/kube-controller-manager"
ETCD="$CACHE/etcd-$ETCD_VERSION/bin/etcd"
SCHEDULER="$CACHE/kubernetes-$KUBERNETES_VERSION/bin/kube-scheduler"
KWOK="$CACHE/kwok-$KWOK_VERSION/bin/kwok"
KWOK_STAGES="$CACHE/kwok-$KWOK_VERSION/stages.yaml"
MARKER=.stackbook-cluster

log() { printf '[cluster-up] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[[ $# -eq 1 ]] || { echo "usage: $0 <dir>" >&2; exit 2; }
for b in "$APISERVER" "$KCM" "$ETCD"; do
  [[ -x "$b" ]] || die "missing $b: run tools/build.sh apiserver etcd"
done
command -v "$KUBECTL" >/dev/null || die "kubectl not found"
[[ -d "$CRDS_DIR" ]] || die "CRD directory $CRDS_DIR not found (set STACKBOOK_CRDS_DIR)"
CRDS_DIR="$(cd "$CRDS_DIR" && pwd)"
FIXTURE_CRDS_DIR="$TOOLS_DIR/fixtures"

mkdir -p "$1"
DIR="$(cd "$1" && pwd)"
KUBECONFIG_FILE="$DIR/kubeconfig"
k() { "$KUBECTL" --kubeconfig="$KUBECONFIG_FILE" "$@"; }

# alive <name>: the process in <dir>/<name>.pid runs and is that binary
alive() {
  local pid
  pid="$(cat "$DIR/$1.pid" 2>/dev/null)" || return 1
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null && tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -q "$1"
}

install_crds() {
  local f n=0 tmp
  tmp="$(mktemp -d)"
  while IFS= read -r -d '' f; do
    if grep -Eq '^[[:space:]]+strategy:[[:space:]]*Webhook' "$f"; then
      # no webhook backend runs here: serve every version with strategy None
      k patch --local -f "$f" --type=json -o json \
        -p '[{"op":"add","path":"/spec/conversion","value":{"strategy":"None"}}]' \
        >"$tmp/$(basename "$f" .yaml).json"
      log "CRD $(basename "$f"): conversion webhook replaced by strategy None"
      f="$tmp/$(basename "$f" .yaml).json"
    fi
    # server-side apply: the biggest CRDs exceed the 256 KiB last-applied annotation limit
    k apply --server-side --force-conflicts --field-manager=stackbook-cluster-up -f "$f" >/dev/null
    n=$((n + 1))
  done < <(find "$CRDS_DIR" -type f \( -name '*.yaml' -o -name '*.yml' \) -print0 | sort -z)
  rm -rf "$tmp"
  # after the shared ones: hand-written from the upstream schema, for kinds the shared dir lacks
  local m=0
  while IFS= read -r -d '' f; do
    k apply --server-side --force-conflicts --field-manager=stackbook-cluster-up -f "$f" >/dev/null
    m=$((m + $(grep -c '^kind: CustomResourceDefinition' "$f")))
  done < <(find "$FIXTURE_CRDS_DIR" -maxdepth 1 -type f -name '*-crds.yaml' -print0 2>/dev/null | sort -z)
  k wait --for=condition=Established crd --all --timeout=120s >/dev/null
  log "$n CRD files from $CRDS_DIR + $m hand-written test CRDs (tools/fixtures) installed and Established"
}

if [[ -f "$DIR/$MARKER" ]]; then
  if alive etcd && alive kube-apiserver && alive kube-controller-manager \
    && [[ "$(k get --raw /readyz 2>/dev/null)" == ok ]]; then
    log "already running in $DIR"
    install_crds
    echo "export KUBECONFIG=$KUBECONFIG_FILE"
    exit 0
  fi
  log "stale cluster dir $DIR: tearing it down first"
  "$TOOLS_DIR/cluster-down.sh" "$DIR"
  mkdir -p "$DIR"
elif [[ -n "$(ls -A "$DIR")" ]]; then
  die "$DIR exists, is not empty and was not made by cluster-up.sh"
fi
touch "$DIR/$MARKER"

cleanup_on_failure() {
  local rc=$?
  trap - EXIT
  [[ $rc -eq 0 ]] && return 0
  log "failed (exit $rc); logs:"
  local l
  for l in "$DIR"/*.log; do
    [[ -f "$l" ]] || continue
    printf -- '----- %s (last 40 lines)\n' "$l" >&2
    tail -n 40 "$l" >&2 || true
  done
  "$TOOLS_DIR/cluster-down.sh" "$DIR" || true
  exit "$rc"
}
trap cleanup_on_failure EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------------ free ports
USED_PORTS=" $(ss -Htan 2>/dev/null | awk '{n = split($4, a, ":"); printf "%s ", a[n]}') "
free_port() {
  local p i
  for i in $(seq 1 200); do
    p=$((20000 + RANDOM % 12000))
    if [[ "$USED_PORTS" != *" $p "* ]] && ! (: <"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      USED_PORTS+="$p "; echo "$p"; return 0
    fi
  done
  die "no free port found"
}
ETCD_CLIENT_PORT="$(free_port)"; ETCD_PEER_PORT="$(free_port)"
APISERVER_PORT="$(free_port)"; KCM_PORT="$(free_port)"; SCHEDULER_PORT="$(free_port)"
printf 'ETCD_CLIENT_PORT=%s\nETCD_PEER_PORT=%s\nAPISERVER_PORT=%s\nKCM_PORT=%s\nSCHEDULER_PORT=%s\n' \
  "$ETCD_CLIENT_PORT" "$ETCD_PEER_PORT" "$APISERVER_PORT" "$KCM_PORT" "$SCHEDULER_PORT" >"$DIR/ports.env"

# ------------------------------------------------------------------ certificates
PKI="$DIR/pki"
mkdir -p "$PKI"
(
  cd "$PKI"
  umask 077
  openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 7 -keyout ca.key -out ca.crt \
    -subj "/CN=stackbook-test-ca" -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" 2>/dev/null
  # sign <name> <subject> <extensions>
  sign() {
    openssl req -new -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "$2" 2>/dev/null
    printf '%s\n' "$3" >"$1.ext"
    openssl x509 -req -sha256 -days 7 -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial \
      -out "$1.crt" -extfile "$1.ext" 2>/dev/null
    rm -f "$1.csr" "$1.ext"
  }
  sign serving "/CN=kube-apiserver" "$(printf '%s\n' \
    'basicConstraints=CA:FALSE' 'keyUsage=critical,digitalSignature,keyEncipherment' \
    'extendedKeyUsage=serverAuth' \
    'subjectAltName=IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local')"
  client_ext="$(printf '%s\n' 'basicConstraints=CA:FALSE' \
    'keyUsage=critical,digitalSignature,keyEncipherment' 'extendedKeyUsage=clientAuth')"
  sign admin "/O=system:masters/CN=admin" "$client_ext"
  # the controller manager's own identity (its bootstrap RBAC role) plus system:masters, as the
  # controllers run with the manager's credentials (no --use-service-account-credentials)
  sign controller-manager "/O=system:masters/CN=system:kube-controller-manager" "$client_ext"
  openssl genrsa -out sa.key 2048 2>/dev/null
  openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
)

# write_kubeconfig <file> <cert name>
write_kubeconfig() {
  local f="$1" who="$2"
  "$KUBECTL" config --kubeconfig="$f" set-cluster stackbook-test \
    --server="https://127.0.0.1:$APISERVER_PORT" --certificate-authority="$PKI/ca.crt" --embed-certs >/dev/null
  "$KUBECTL" config --kubeconfig="$f" set-credentials "$who" \
    --client-certificate="$PKI/$who.crt" --client-key="$PKI/$who.key" --embed-certs >/dev/null
  "$KUBECTL" config --kubeconfig="$f" set-context stackbook-test --cluster=stackbook-test \
    --user="$who" >/dev/null
  "$KUBECTL" config --kubeconfig="$f" use-context stackbook-test >/dev/null
  chmod 600 "$f"
}
write_kubeconfig "$KUBECONFIG_FILE" admin
write_kubeconfig "$DIR/controller-manager.kubeconfig" controller-manager

# start <name> <binary> <args...>: runs detached (own session, survives this script), logs and pid in DIR
start() {
  local name="$1"; shift
  setsid "$@" </dev/null >"$DIR/$name.log" 2>&1 &
  echo $! >"$DIR/$name.pid"
  log "$name started (pid $!)"
}

# wait_for <what> <seconds> <command...>
wait_for() {
  local what="$1" secs="$2" i; shift 2
  for ((i = 0; i < secs * 4; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.25
  done
  die "timed out after ${secs}s waiting for $what"
}

# ------------------------------------------------------------------ etcd
start etcd "$ETCD" --name stackbook --data-dir "$DIR/etcd-data" \
  --listen-client-urls "http://127.0.0.1:$ETCD_CLIENT_PORT" \
  --advertise-client-urls "http://127.0.0.1:$ETCD_CLIENT_PORT" \
  --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-cluster "stackbook=http://127.0.0.1:$ETCD_PEER_PORT" \
  --unsafe-no-fsync --max-request-bytes=10485760 --log-level=warn
etcd_healthy() { alive etcd && curl -fsS "http://127.0.0.1:$ETCD_CLIENT_PORT/health" | grep -q '"health":"true"'; }
wait_for "etcd /health" 30 etcd_healthy

# ------------------------------------------------------------------ kube-apiserver
cat >"$DIR/admission.yaml" <<EOF
apiVersion: apiserver.config.k8s.io/v1
kind: AdmissionConfiguration
plugins:
  - name: PodSecurity
    configuration:
      apiVersion: pod-security.admission.config.k8s.io/v1
      kind: PodSecurityConfiguration
      defaults:
        enforce: restricted
        enforce-version: latest
        audit: restricted
        audit-version: latest
        warn: restricted
        warn-version: latest
      exemptions:
        usernames: []
        runtimeClasses: []
        namespaces: []
EOF
read -r -a APISERVER_EXTRA_ARGS <<<"${STACKBOOK_APISERVER_ARGS:-}"
start kube-apiserver "$APISERVER" \
  --etcd-servers="http://127.0.0.1:$ETCD_CLIENT_PORT" \
  --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$APISERVER_PORT" \
  --tls-cert-file="$PKI/serving.crt" --tls-private-key-file="$PKI/serving.key" \
  --client-ca-file="$PKI/ca.crt" \
  --service-cluster-ip-range=10.0.0.0/24 \
  --authorization-mode=RBAC \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
  --disable-admission-plugins=ServiceAccount \
  --admission-control-config-file="$DIR/admission.yaml" \
  --endpoint-reconciler-type=none \
  --allow-privileged=true --profiling=false --v=1 ${APISERVER_EXTRA_ARGS[@]+"${APISERVER_EXTRA_ARGS[@]}"}
apiserver_ready() { alive kube-apiserver && [[ "$(k get --raw /readyz 2>/dev/null)" == ok ]]; }
wait_for "kube-apiserver /readyz" 120 apiserver_ready
log "kube-apiserver $(k get --raw /version | jq -r .gitVersion) ready on https://127.0.0.1:$APISERVER_PORT"

# ------------------------------------------------------------------ kube-controller-manager
start kube-controller-manager "$KCM" \
  --kubeconfig="$DIR/controller-manager.kubeconfig" \
  --authentication-kubeconfig="$DIR/controller-manager.kubeconfig" \
  --authorization-kubeconfig="$DIR/controller-manager.kubeconfig" \
  --bind-address=127.0.0.1 --secure-port="$KCM_PORT" \
  --leader-elect=false \
  --root-ca-file="$PKI/ca.crt" \
  --service-account-private-key-file="$PKI/sa.key" \
  --service-cluster-ip-range=10.0.0.0/24 \
  --cluster-signing-cert-file="$PKI/ca.crt" --cluster-signing-key-file="$PKI/ca.key" \
  --profiling=false --v=1
kcm_healthy() {
  alive kube-controller-manager && [[ "$(curl -fsS -k --cert "$PKI/admin.crt" --key "$PKI/admin.key" \
    "https://127.0.0.1:$KCM_PORT/healthz")" == ok ]]
}
wait_for "kube-controller-manager /healthz" 60 kcm_healthy

# ------------------------------------------------------------------ data plane (simulated)
# What a real cluster has and the provider's readiness waits need: kube-scheduler places Pods on
# kwok's simulated Nodes (sigs.k8s.io/kwok: Node heartbeats and leases, Pods Running/Ready with an
# IP, Job Pods Succeeded; stages from the kwok module, tools/build.sh; Node leases renewed, else the
# node lifecycle controller marks the Nodes and their Pods NotReady after 40 s), so Deployments roll out,
# Services get endpoints and Jobs complete. The Nodes carry the labels and taints the stacks select:
# three zones, a GPU pool (nvidia.com/gpu) and the Oubliette pool (stackbook.io/pool=oubliette).
# A default StorageClass without provisioner: the tier pre-provisions one PersistentVolume per claim
# and the controller manager binds them. Without kube-scheduler or kwok (an older tool cache) the
# cluster has no data plane: "$DIR/data-plane" is absent and Pods stay Pending.
if [[ -x "$SCHEDULER" && -x "$KWOK" && -f "$KWOK_STAGES" ]]; then
  (
    cd "$PKI"; umask 077
    openssl req -new -newkey rsa:2048 -nodes -keyout scheduler.key -out scheduler.csr \
      -subj "/O=system:masters/CN=system:kube-scheduler" 2>/dev/null
    printf '%s\n' 'basicConstraints=CA:FALSE' 'keyUsage=critical,digitalSignature,keyEncipherment' \
      'extendedKeyUsage=clientAuth' >scheduler.ext
    openssl x509 -req -sha256 -days 7 -in scheduler.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
      -out scheduler.crt -extfile scheduler.ext 2>/dev/null
    rm -f scheduler.csr scheduler.ext
  )
  write_kubeconfig "$DIR/scheduler.kubeconfig" scheduler
  start kube-scheduler "$SCHEDULER" \
    --kubeconfig="$DIR/scheduler.kubeconfig" \
    --authentication-kubeconfig="$DIR/scheduler.kubeconfig" \
    --authorization-kubeconfig="$DIR/scheduler.kubeconfig" \
    --bind-address=127.0.0.1 --secure-port="$SCHEDULER_PORT" --leader-elect=false --profiling=false --v=1
  scheduler_healthy() {
    alive kube-scheduler && [[ "$(curl -fsS -k --cert "$PKI/admin.crt" --key "$PKI/admin.key" \
      "https://127.0.0.1:$SCHEDULER_PORT/healthz")" == ok ]]
  }
  wait_for "kube-scheduler /healthz" 60 scheduler_healthy
  start kwok "$KWOK" --kubeconfig="$KUBECONFIG_FILE" --config="$KWOK_STAGES" \
    --manage-all-nodes=false --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
    --cidr=10.1.0.0/16 --node-ip=10.0.1.1 --node-lease-duration-seconds=40
  node() { # name zone extra-labels taints extra-capacity (JSON)
    jq -n --arg name "$1" --arg zone "$2" --argjson labels "$3" --argjson taints "$4" --argjson extra "$5" '{
      apiVersion: "v1", kind: "Node",
      metadata: { name: $name, annotations: { "kwok.x-k8s.io/node": "fake" },
        labels: ({ "kubernetes.io/hostname": $name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
          "type": "kwok", "topology.kubernetes.io/zone": $zone, "stackbook.io/test-fixture": "node" } + $labels) },
      spec: { taints: $taints },
      status: { allocatable: ({ cpu: "64", memory: "256Gi", pods: "110", "ephemeral-storage": "2Ti" } + $extra),
                capacity: ({ cpu: "64", memory: "256Gi", pods: "110", "ephemeral-storage": "2Ti" } + $extra) } }'
  }
  {
    for z in a b c; do node "stackbook-general-$z" "zone-$z" '{}' '[]' '{}'; done
    for z in a b; do
      node "stackbook-gpu-$z" "zone-$z" '{"nvidia.com/gpu.present": "true"}' \
        '[{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}]' '{"nvidia.com/gpu": "4"}'
    done
    for z in a b; do
      node "stackbook-oubliette-$z" "zone-$z" '{"stackbook.io/pool": "oubliette"}' \
        '[{"key": "stackbook.io/pool", "value": "oubliette", "effect": "NoSchedule"}]' '{}'
    done
  } | jq -s '{apiVersion: "v1", kind: "List", items: .}' | k create -f - >/dev/null
  nodes_ready() {
    alive kwok && [[ "$(k get nodes -o json | jq '[.items[] | select(any(.status.conditions[]?; .type == "Ready" and .status == "True"))] | length')" == 7 ]]
  }
  wait_for "7 kwok Nodes Ready" 60 nodes_ready
  k create -f - >/dev/null <<EOF
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: standard
  annotations: { storageclass.kubernetes.io/is-default-class: "true" }
  labels: { stackbook.io/test-fixture: storage }
provisioner: kubernetes.io/no-provisioner
volumeBindingMode: Immediate
reclaimPolicy: Retain
EOF
  echo kwok >"$DIR/data-plane"
  log "data plane: kube-scheduler, kwok $KWOK_VERSION, 7 Nodes (3 general, 2 GPU, 2 Oubliette; zones a-c), default StorageClass standard (no provisioner)"
else
  log "no data plane: kube-scheduler/kwok not in the tool cache (tools/build.sh apiserver kwok); Pods stay Pending"
fi

# ------------------------------------------------------------------ CRDs
install_crds

trap - EXIT
log "up: $DIR"
echo "export KUBECONFIG=$KUBECONFIG_FILE"
