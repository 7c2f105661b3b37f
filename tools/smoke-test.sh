#!/usr/bin/env bash
# End-to-end check of the real-cluster tooling, all in temp dirs (nothing is written to the repo):
#  (a) on a fresh tools/cluster-up.sh cluster, a Deployment violating Pod Security "restricted" is
#      refused by `kubectl apply --server-side --dry-run=server --warnings-as-errors`, a compliant one
#      passes, and really gets a ReplicaSet and Pods with no FailedCreate events;
#  (b) `pulumi version`; an offline Pulumi TypeScript program (file:// backend) does up / preview
#      (no changes) / destroy of a ConfigMap in the test cluster: through @pulumi/kubernetes when the
#      pulumi-resource-kubernetes plugin is available, and always through a dynamic provider;
#  (c) kube-score (and kube-linter, when built) on a sample manifest.
# Needs tools/build.sh to have run and the npm registry (npm install in a temp dir).
# Prints "N passed, N failed" and exits non-zero on any failure. Stops the cluster on exit.
set -euo pipefail

TOOLS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=env.sh
source "$TOOLS_DIR/env.sh"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/stackbook-smoke.XXXXXX")"
CLUSTER="$WORK/cluster"
PASS=0 FAIL=0 SKIP=0
ok() { PASS=$((PASS + 1)); printf 'PASS  %s\n' "$*"; }
ko() { FAIL=$((FAIL + 1)); printf 'FAIL  %s\n' "$*"; }
skip() { SKIP=$((SKIP + 1)); printf 'SKIP  %s\n' "$*"; }
finish() {
  "$TOOLS_DIR/cluster-down.sh" "$CLUSTER" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap finish EXIT

"$TOOLS_DIR/cluster-up.sh" "$CLUSTER" >/dev/null
export KUBECONFIG="$CLUSTER/kubeconfig"

# ------------------------------------------------------------------ (a) Pod Security
cat >"$WORK/bad.yaml" <<'EOF'
apiVersion: apps/v1
kind: Deployment
metadata: {name: bad, namespace: default}
spec:
  replicas: 1
  selector: {matchLabels: {app: bad}}
  template:
    metadata: {labels: {app: bad}}
    spec:
      containers: [{name: app, image: registry.example/app:1.0.0}]
EOF
cat >"$WORK/good.yaml" <<'EOF'
apiVersion: apps/v1
kind: Deployment
metadata: {name: good, namespace: default, labels: {app: good}}
spec:
  replicas: 2
  selector: {matchLabels: {app: good}}
  template:
    metadata: {labels: {app: good}}
    spec:
      automountServiceAccountToken: false
      securityContext:
        runAsNonRoot: true
        runAsUser: 10001
        runAsGroup: 10001
        seccompProfile: {type: RuntimeDefault}
      affinity:
        podAntiAffinity:
          preferredDuringSchedulingIgnoredDuringExecution:
            - weight: 100
              podAffinityTerm:
                topologyKey: kubernetes.io/hostname
                labelSelector: {matchLabels: {app: good}}
      containers:
        - name: app
          image: registry.example/app@sha256:0000000000000000000000000000000000000000000000000000000000000000
          imagePullPolicy: Always
          ports: [{containerPort: 8080, name: http}]
          resources:
            requests: {cpu: 50m, memory: 64Mi, ephemeral-storage: 64Mi}
            limits: {cpu: 200m, memory: 128Mi, ephemeral-storage: 128Mi}
          readinessProbe: {httpGet: {path: /ready, port: http}}
          livenessProbe: {httpGet: {path: /live, port: http}}
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities: {drop: [ALL]}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: good, namespace: default}
spec:
  minAvailable: 1
  selector: {matchLabels: {app: good}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: good, namespace: default}
spec:
  podSelector: {matchLabels: {app: good}}
  policyTypes: [Ingress, Egress]
  ingress: [{ports: [{port: 8080, protocol: TCP}]}]
EOF
dry() { kubectl apply --server-side --dry-run=server --warnings-as-errors -f "$1" 2>&1; }
if out="$(dry "$WORK/bad.yaml")"; then
  ko "(a) non-compliant Deployment was accepted: $out"
elif grep -q 'would violate PodSecurity "restricted' <<<"$out"; then
  ok "(a) non-compliant Deployment refused: $(grep -o 'would violate PodSecurity "[^"]*"' <<<"$out" | head -1)"
else
  ko "(a) non-compliant Deployment failed for another reason: $out"
fi
if out="$(dry "$WORK/good.yaml")"; then ok "(a) compliant Deployment passes server dry-run"
else ko "(a) compliant Deployment refused: $out"; fi
kubectl apply --server-side --warnings-as-errors -f "$WORK/good.yaml" >/dev/null
pods=0
for _ in $(seq 1 60); do
  pods="$(kubectl get pods -l app=good --no-headers 2>/dev/null | wc -l || true)"
  [[ "$pods" -ge 2 ]] && break
  sleep 0.5
done
rs="$(kubectl get rs -l app=good -o name | head -1 || true)"
failed="$(kubectl get events --field-selector reason=FailedCreate -o name | wc -l || true)"
if [[ -n "$rs" && "$pods" -ge 2 && "$failed" -eq 0 ]]; then
  ok "(a) compliant Deployment got $rs and $pods Pods ($(kubectl get pods -l app=good --no-headers | awk '{print $3}' | sort -u | paste -sd, -)), 0 FailedCreate events"
else
  ko "(a) compliant Deployment: replicaset='$rs' pods=$pods FailedCreate=$failed"
fi
kubectl delete -f "$WORK/good.yaml" --wait=false >/dev/null

# ------------------------------------------------------------------ (b) Pulumi
export PULUMI_BACKEND_URL="file://$WORK/pulumi-state" PULUMI_CONFIG_PASSPHRASE=x
mkdir -p "$WORK/pulumi-state" "$WORK/pulumi"
if v="$(pulumi version 2>&1)" && [[ "$v" == "$PULUMI_VERSION" ]]; then ok "(b) pulumi version: $v"
else ko "(b) pulumi version: $v"; fi
(
  cd "$WORK/pulumi"
  echo '{"name": "stackbook-smoke", "private": true}' >package.json
  npm install --no-audit --no-fund --ignore-scripts --loglevel=error \
    "@pulumi/pulumi@${PULUMI_VERSION#v}" "@pulumi/kubernetes@${PULUMI_KUBERNETES_VERSION#v}" \
    typescript@6.0.3 @types/node@20 >/dev/null
)
# project <dir> <name>: Pulumi.yaml + tsconfig sharing the one node_modules
project() {
  mkdir -p "$1"
  ln -sfn "$WORK/pulumi/node_modules" "$1/node_modules"
  cp "$WORK/pulumi/package.json" "$1/"
  printf 'name: %s\nruntime:\n  name: nodejs\n  options:\n    typescript: true\n' "$2" >"$1/Pulumi.yaml"
  cat >"$1/tsconfig.json" <<'EOF'
{"compilerOptions": {"strict": true, "target": "es2022", "module": "node16", "moduleResolution": "node16",
 "esModuleInterop": true, "skipLibCheck": true, "types": ["node"]}, "files": ["index.ts"]}
EOF
}
# cycle <dir> <label>: up, preview with no changes, destroy; checks the ConfigMap in the cluster
cycle() {
  local dir="$1" label="$2" out
  (cd "$dir" && pulumi stack init smoke --non-interactive >/dev/null 2>&1) || true
  if out="$(cd "$dir" && pulumi up --yes --non-interactive --skip-preview 2>&1)" \
    && [[ "$(kubectl get configmap stackbook-smoke -o jsonpath='{.data.hello}')" == world ]]; then
    ok "(b) $label: pulumi up created ConfigMap default/stackbook-smoke"
  else
    ko "(b) $label: pulumi up: $(tail -n 15 <<<"$out")"; return 0
  fi
  if out="$(cd "$dir" && pulumi preview --non-interactive --expect-no-changes 2>&1)"; then
    ok "(b) $label: pulumi preview shows no changes ($(grep -Eo '[0-9]+ unchanged' <<<"$out"))"
  else
    ko "(b) $label: pulumi preview: $(tail -n 15 <<<"$out")"
  fi
  if out="$(cd "$dir" && pulumi destroy --yes --non-interactive 2>&1)" \
    && ! kubectl get configmap stackbook-smoke >/dev/null 2>&1; then
    ok "(b) $label: pulumi destroy removed the ConfigMap"
  else
    ko "(b) $label: pulumi destroy: $(tail -n 15 <<<"$out")"
  fi
}

if command -v pulumi-resource-kubernetes >/dev/null \
  || [[ -d "$PULUMI_HOME/plugins/resource-kubernetes-$PULUMI_KUBERNETES_VERSION" ]]; then
  project "$WORK/pulumi/k8s" stackbook-smoke-k8s
  cat >"$WORK/pulumi/k8s/index.ts" <<'EOF'
import * as k8s from "@pulumi/kubernetes";
const cm = new k8s.core.v1.ConfigMap("smoke", {
  metadata: { name: "stackbook-smoke", namespace: "default" },
  data: { hello: "world" },
});
export const name = cm.metadata.name;
EOF
  cycle "$WORK/pulumi/k8s" "@pulumi/kubernetes"
else
  skip "(b) @pulumi/kubernetes ConfigMap: no pulumi-resource-kubernetes plugin (build.sh kube-provider is unavailable here)"
fi

project "$WORK/pulumi/dynamic" stackbook-smoke-dynamic
cat >"$WORK/pulumi/dynamic/index.ts" <<'EOF'
// A ConfigMap through a dynamic provider calling kubectl: the real engine, language host and
// file backend against the test cluster, without the pulumi-kubernetes plugin.
import * as pulumi from "@pulumi/pulumi";
import { execFileSync } from "child_process";

interface Inputs { name: string; namespace: string; data: Record<string, string>; }
const kubectl = (args: string[], input?: string) => execFileSync("kubectl", args, { input, encoding: "utf8" });
const apply = (i: Inputs) => kubectl(["apply", "--server-side", "--field-manager=pulumi-smoke", "-f", "-"],
  JSON.stringify({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: i.name, namespace: i.namespace }, data: i.data }));

const provider: pulumi.dynamic.ResourceProvider = {
  async diff(_id: string, olds: Inputs, news: Inputs) {
    const key = (i: Inputs) => JSON.stringify([i.name, i.namespace, i.data]);
    return { changes: key(olds) !== key(news), replaces: olds.name !== news.name || olds.namespace !== news.namespace ? ["name"] : [] };
  },
  async create(inputs: Inputs) {
    apply(inputs);
    const uid = kubectl(["get", "configmap", inputs.name, "-n", inputs.namespace, "-o", "jsonpath={.metadata.uid}"]);
    return { id: `${inputs.namespace}/${inputs.name}`, outs: { ...inputs, uid } };
  },
  async update(_id: string, olds: Inputs & { uid: string }, news: Inputs) {
    apply(news);
    return { outs: { ...news, uid: olds.uid } };
  },
  async delete(_id: string, props: Inputs) {
    kubectl(["delete", "configmap", props.name, "-n", props.namespace, "--ignore-not-found"]);
  },
};

class ConfigMap extends pulumi.dynamic.Resource {
  declare public readonly uid: pulumi.Output<string>;
  constructor(name: string, args: Inputs, opts?: pulumi.CustomResourceOptions) {
    super(provider, name, { ...args, uid: undefined }, opts);
  }
}
export const uid = new ConfigMap("smoke", { name: "stackbook-smoke", namespace: "default", data: { hello: "world" } }).uid;
EOF
cycle "$WORK/pulumi/dynamic" "dynamic provider"

# the project runs precompiled JavaScript with `typescript: false`: ts-node must stay unloaded
mkdir -p "$WORK/pulumi/js/build"
ln -sfn "$WORK/pulumi/node_modules" "$WORK/pulumi/js/node_modules"
cp "$WORK/pulumi/package.json" "$WORK/pulumi/js/"
printf 'name: stackbook-smoke-js\nruntime:\n  name: nodejs\n  options:\n    typescript: false\nmain: build/index.js\n' \
  >"$WORK/pulumi/js/Pulumi.yaml"
cat >"$WORK/pulumi/js/build/index.js" <<'EOF'
require("@pulumi/pulumi");
exports.tsnodeModules = Object.keys(require.cache).filter((k) => k.includes("ts-node")).length;
EOF
(cd "$WORK/pulumi/js" && pulumi stack init smoke --non-interactive >/dev/null 2>&1) || true
if out="$(cd "$WORK/pulumi/js" && pulumi up --yes --non-interactive --skip-preview 2>&1)" \
  && n="$(cd "$WORK/pulumi/js" && pulumi stack output tsnodeModules 2>&1)" && [[ "$n" == 0 ]]; then
  ok "(b) runtime option typescript: false honoured (JavaScript main, no ts-node loaded)"
else
  ko "(b) typescript: false: ts-node modules loaded: ${n:-?} $(tail -n 10 <<<"$out")"
fi

# ------------------------------------------------------------------ (c) manifest checkers
if out="$(kube-score score "$WORK/good.yaml" 2>&1)"; then
  ok "(c) kube-score: compliant manifest scores clean ($(grep -c '✅' <<<"$out") objects ✅)"
else
  ko "(c) kube-score on the compliant manifest: $out"
fi
if out="$(kube-score score "$WORK/bad.yaml" 2>&1)"; then
  ko "(c) kube-score accepted the non-compliant manifest"
else
  ok "(c) kube-score flags the non-compliant manifest ($(grep -c '\[CRITICAL\]' <<<"$out") CRITICAL checks)"
fi
if command -v kube-linter >/dev/null; then
  if kube-linter lint "$WORK/bad.yaml" >/dev/null 2>&1; then ko "(c) kube-linter accepted the non-compliant manifest"
  else ok "(c) kube-linter flags the non-compliant manifest"; fi
else
  skip "(c) kube-linter: not built (the module proxy refuses golang.stackrox.io/kube-linter)"
fi

echo "$PASS passed, $FAIL failed, $SKIP skipped"
[[ $FAIL -eq 0 ]]
