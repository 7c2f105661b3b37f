// NetworkPolicy ingress evaluation (standard Kubernetes semantics) for the controllers tier:
// is a live Pod's port reachable from a client in another namespace? Pure; tested by
// test/controllers-netpol.test.ts.

/** Kubernetes label selector semantics (matchLabels + matchExpressions). */
export function selects(sel, labels = {}) {
  if (!sel) return false;
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of sel.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, e.key);
    if (e.operator === 'In' && !(has && e.values.includes(labels[e.key]))) return false;
    if (e.operator === 'NotIn' && has && e.values.includes(labels[e.key])) return false;
    if (e.operator === 'Exists' && !has) return false;
    if (e.operator === 'DoesNotExist' && has) return false;
  }
  return true;
}

/**
 * Whether the NetworkPolicies of the pod's namespace let a client Pod in namespace `fromNs` (labels
 * `fromLabels`) reach `port` (number; `portName` its container port name) of the pod. Standard
 * semantics: not selected by any Ingress policy -> allowed; else allowed iff a selecting policy's rule does.
 */
export function ingressAllowed(policies, pod, { fromNs, fromLabels, port, portName }) {
  const nsLabels = { 'kubernetes.io/metadata.name': fromNs };
  const selecting = policies.filter((p) => p.metadata.namespace === pod.metadata.namespace && selects(p.spec.podSelector, pod.metadata.labels)
    && (p.spec.policyTypes ?? ['Ingress']).includes('Ingress'));
  if (selecting.length === 0) return { allowed: true, by: 'no policy selects it' };
  for (const p of selecting) {
    for (const rule of p.spec.ingress ?? []) {
      const peerOk = !rule.from?.length || rule.from.some((peer) => {
        if (peer.ipBlock) return false;
        const nsOk = peer.namespaceSelector ? selects(peer.namespaceSelector, nsLabels) : fromNs === pod.metadata.namespace;
        const podOk = peer.podSelector ? selects(peer.podSelector, fromLabels) : true;
        return nsOk && podOk;
      });
      const portOk = !rule.ports?.length || rule.ports.some((pp) => pp.port === undefined || pp.port === port || (portName && pp.port === portName));
      if (peerOk && portOk) return { allowed: true, by: p.metadata.name };
    }
  }
  return { allowed: false, by: selecting.map((p) => p.metadata.name).join(', ') };
}
