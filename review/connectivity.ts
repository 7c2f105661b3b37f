/**
 * Who can talk to whom: the allowed flows of a stack, computed from its NetworkPolicies and the
 * pod labels of its workloads the way Kubernetes enforces them (pure, no cluster):
 * - a pod is isolated for ingress (egress) when a policy of its namespace selects it and lists
 *   `Ingress` (`Egress`) in `policyTypes`; an isolated pod admits only what some selecting policy's
 *   rule allows (rules add up, never subtract);
 * - a flow between two pods needs both ends: the source's egress and the destination's ingress;
 * - a peer is a pod selector (same namespace), a namespace selector (all pods there), both (one
 *   combined peer), or an `ipBlock`.
 * Flows with peers outside the stack (the ingress controller's namespace, Prometheus, kube-dns,
 * CIDRs) are listed as they are written. The review (`stackbook diff`) reports flows added and
 * removed; the HTML report draws them.
 */

/** A plain manifest (as in a bundle). */
export interface Obj {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
}

type J = Record<string, any>;

export interface Workload {
  readonly namespace: string;
  readonly name: string;
  readonly kind: string;
  readonly labels: Readonly<Record<string, string>>;
  /** Container ports: name -> number (unnamed ports under their number). */
  readonly ports: ReadonlyMap<string, number>;
}

export interface Flow {
  /** `ns/workload`, or an outside peer: `ns/*`, `ns/{k=v}`, a CIDR (`10.0.0.0/8 except …`), `any`. */
  readonly from: string;
  /** `ns/workload`, or an outside peer as above. */
  readonly to: string;
  /** `8000/TCP`, or `any`. */
  readonly port: string;
}

export function flowText(f: Flow): string {
  return `${f.from} → ${f.to}${f.port === 'any' ? ' (any port)' : `:${f.port}`}`;
}

const POD_TEMPLATE: Record<string, readonly string[]> = {
  Deployment: ['spec', 'template'],
  StatefulSet: ['spec', 'template'],
  DaemonSet: ['spec', 'template'],
  Job: ['spec', 'template'],
  CronJob: ['spec', 'jobTemplate', 'spec', 'template'],
};

function at(o: unknown, path: readonly string[]): any {
  let cur: any = o;
  for (const k of path) cur = cur && typeof cur === 'object' ? cur[k] : undefined;
  return cur;
}

export function workloadsOf(objects: readonly Obj[]): Workload[] {
  const out: Workload[] = [];
  for (const o of objects) {
    const path = POD_TEMPLATE[o.kind];
    if (!path || !o.metadata.namespace) continue;
    const tpl = at(o, path) as J | undefined;
    const ports = new Map<string, number>();
    for (const c of [...(tpl?.spec?.containers ?? []), ...(tpl?.spec?.initContainers ?? [])] as J[]) {
      for (const p of (c.ports ?? []) as J[]) ports.set(String(p.name ?? p.containerPort), Number(p.containerPort));
    }
    out.push({ namespace: o.metadata.namespace, name: o.metadata.name, kind: o.kind, labels: tpl?.metadata?.labels ?? {}, ports });
  }
  return out.sort((a, b) => (a.namespace + '/' + a.name < b.namespace + '/' + b.name ? -1 : 1));
}

function selects(sel: J | undefined, labels: Readonly<Record<string, string>>): boolean {
  if (!sel) return true;
  for (const [k, v] of Object.entries((sel.matchLabels ?? {}) as Record<string, string>)) if (labels[k] !== v) return false;
  for (const e of (sel.matchExpressions ?? []) as J[]) {
    const has = e.key in labels;
    const val = labels[e.key];
    const values: string[] = e.values ?? [];
    if (e.operator === 'In' && !(has && values.includes(val!))) return false;
    if (e.operator === 'NotIn' && has && values.includes(val!)) return false;
    if (e.operator === 'Exists' && !has) return false;
    if (e.operator === 'DoesNotExist' && has) return false;
  }
  return true;
}

function selectorText(sel: J | undefined): string {
  const parts = [
    ...Object.entries((sel?.matchLabels ?? {}) as Record<string, string>).map(([k, v]) => `${k}=${v}`),
    ...((sel?.matchExpressions ?? []) as J[]).map((e) => `${e.key} ${e.operator}${e.values ? ` (${e.values.join(',')})` : ''}`),
  ];
  return parts.length === 0 ? '*' : `{${parts.join(', ')}}`;
}

const NAME_LABEL = 'kubernetes.io/metadata.name';

/** The text of an outside peer: `ingress-nginx/*`, `monitoring/{app=prometheus}`, a CIDR. */
function peerText(peer: J, ownNs: string): string {
  if (peer.ipBlock) return `${peer.ipBlock.cidr}${peer.ipBlock.except?.length ? ` except ${peer.ipBlock.except.join(',')}` : ''}`;
  const pods = peer.podSelector ? selectorText(peer.podSelector) : '*';
  const podsShort = pods.replace(/^\{app\.kubernetes\.io\/name=([^,}]+)\}$/, '$1');
  if (!peer.namespaceSelector) return `${ownNs}/${podsShort}`;
  const ml = (peer.namespaceSelector.matchLabels ?? {}) as Record<string, string>;
  const keys = Object.keys(ml);
  const ns = keys.length === 1 && keys[0] === NAME_LABEL && !peer.namespaceSelector.matchExpressions ? ml[NAME_LABEL]! : `namespaces ${selectorText(peer.namespaceSelector)}`;
  return `${ns}/${podsShort}`;
}

interface Policy {
  readonly namespace: string;
  readonly podSelector: J;
  readonly types: ReadonlySet<string>;
  readonly ingress: readonly J[];
  readonly egress: readonly J[];
}

function policiesOf(objects: readonly Obj[]): Policy[] {
  return objects
    .filter((o) => o.kind === 'NetworkPolicy' && o.metadata.namespace)
    .map((o) => {
      const spec = (o.spec ?? {}) as J;
      const types = new Set<string>(spec.policyTypes ?? (spec.egress ? ['Ingress', 'Egress'] : ['Ingress']));
      return { namespace: o.metadata.namespace!, podSelector: spec.podSelector ?? {}, types, ingress: spec.ingress ?? [], egress: spec.egress ?? [] };
    });
}

/** Does a rule's port list admit this destination port (number and name)? */
function portAdmits(ports: readonly J[] | undefined, port: { name: string; number: number }): boolean {
  if (!ports || ports.length === 0) return true;
  return ports.some((p) => {
    if ((p.protocol ?? 'TCP') !== 'TCP') return false;
    if (p.port === undefined) return true;
    if (typeof p.port === 'string') return p.port === port.name;
    return p.endPort ? port.number >= p.port && port.number <= p.endPort : p.port === port.number;
  });
}

/** Does a rule's peer list admit this pod (namespace labels, pod labels)? */
function peerAdmits(peers: readonly J[] | undefined, ruleNs: string, nsLabels: Readonly<Record<string, string>>, w: Workload): boolean {
  if (!peers || peers.length === 0) return true;
  return peers.some((p) => {
    if (p.ipBlock) return false; // pod IPs are not known here; ipBlocks are outside peers
    const nsOk = p.namespaceSelector ? selects(p.namespaceSelector, nsLabels) : w.namespace === ruleNs;
    return nsOk && selects(p.podSelector, w.labels);
  });
}

/** A rule's ports as text; a named port resolved through the pod's own ports when it has it. */
function portsOfRule(ports: readonly J[] | undefined, named?: ReadonlyMap<string, number>): string[] {
  if (!ports || ports.length === 0) return ['any'];
  return ports.map((p) => {
    if (p.port === undefined) return 'any';
    const n = typeof p.port === 'string' ? (named?.get(p.port) ?? p.port) : p.port;
    return `${n}${p.endPort ? `-${p.endPort}` : ''}/${p.protocol ?? 'TCP'}`;
  });
}

/** Every allowed flow of a stack, sorted and de-duplicated. */
export function flowsOf(objects: readonly Obj[]): Flow[] {
  const workloads = workloadsOf(objects);
  const policies = policiesOf(objects);
  const nsLabels = new Map<string, Record<string, string>>();
  for (const o of objects) if (o.kind === 'Namespace') nsLabels.set(o.metadata.name, { ...o.metadata.labels, [NAME_LABEL]: o.metadata.name });
  const labelsOfNs = (ns: string) => nsLabels.get(ns) ?? { [NAME_LABEL]: ns };
  const selecting = (w: Workload, type: string) => policies.filter((p) => p.namespace === w.namespace && p.types.has(type) && selects(p.podSelector, w.labels));
  const out = new Map<string, Flow>();
  const add = (f: Flow) => out.set(flowText(f), f);
  const id = (w: Workload) => `${w.namespace}/${w.name}`;

  // pod to pod, inside the stack
  for (const dst of workloads) {
    const inPolicies = selecting(dst, 'Ingress');
    const ports = dst.ports.size > 0 ? [...dst.ports].map(([name, number]) => ({ name, number })) : [];
    for (const src of workloads) {
      if (src === dst) continue;
      const outPolicies = selecting(src, 'Egress');
      for (const port of ports) {
        const ingressOk = inPolicies.length === 0 || inPolicies.some((p) => p.ingress.some((r) => portAdmits(r.ports, port) && peerAdmits(r.from, p.namespace, labelsOfNs(src.namespace), src)));
        if (!ingressOk) continue;
        const egressOk = outPolicies.length === 0 || outPolicies.some((p) => p.egress.some((r) => portAdmits(r.ports, port) && peerAdmits(r.to, p.namespace, labelsOfNs(dst.namespace), dst)));
        if (egressOk) add({ from: id(src), to: id(dst), port: `${port.number}/TCP` });
      }
    }
  }
  // outside peers: what the rules name that is not a workload of the stack
  const inStack = (peer: J, ruleNs: string) =>
    !peer.ipBlock && workloads.some((w) => (peer.namespaceSelector ? selects(peer.namespaceSelector, labelsOfNs(w.namespace)) : w.namespace === ruleNs) && selects(peer.podSelector, w.labels));
  for (const w of workloads) {
    const inPolicies = selecting(w, 'Ingress');
    if (inPolicies.length === 0) add({ from: 'any', to: id(w), port: 'any' });
    for (const p of inPolicies) {
      for (const r of p.ingress) {
        const peers: J[] = r.from?.length ? r.from : [{ ipBlock: { cidr: 'any' } }];
        for (const peer of peers) {
          if (inStack(peer, p.namespace)) continue;
          for (const port of portsOfRule(r.ports, w.ports)) add({ from: peer.ipBlock?.cidr === 'any' ? 'any' : peerText(peer, p.namespace), to: id(w), port });
        }
      }
    }
    const outPolicies = selecting(w, 'Egress');
    if (outPolicies.length === 0) add({ from: id(w), to: 'any', port: 'any' });
    for (const p of outPolicies) {
      for (const r of p.egress) {
        const peers: J[] = r.to?.length ? r.to : [{ ipBlock: { cidr: 'any' } }];
        for (const peer of peers) {
          if (inStack(peer, p.namespace)) continue;
          for (const port of portsOfRule(r.ports)) add({ from: id(w), to: peer.ipBlock?.cidr === 'any' ? 'any' : peerText(peer, p.namespace), port });
        }
      }
    }
  }
  return [...out.keys()].sort().map((k) => out.get(k)!);
}

/** Flows added and removed between two object sets (texts, sorted). */
export function flowDiff(base: readonly Obj[], head: readonly Obj[]): { readonly added: string[]; readonly removed: string[] } {
  const b = new Set(flowsOf(base).map(flowText));
  const h = new Set(flowsOf(head).map(flowText));
  return { added: [...h].filter((f) => !b.has(f)).sort(), removed: [...b].filter((f) => !h.has(f)).sort() };
}
