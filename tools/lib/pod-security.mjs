// Pod Security of the bundle's namespaces, for the real-cluster tier: the level each namespace
// declares (its `pod-security.kubernetes.io/*` labels), whether a relaxed one carries the reasoned
// exception annotation, and which apply warnings a relaxed namespace legitimately produces.
// Pure functions; tools/test-cluster.mjs runs kubectl.

export const EXCEPTION_ANNOTATION = 'exception.stackbook.io/pod-security-restricted';
export const LEVELS = ['privileged', 'baseline', 'restricted'];
const POD_KINDS = ['Deployment', 'StatefulSet', 'Job', 'ReplicaSet', 'DaemonSet', 'CronJob', 'Pod'];

/**
 * The declared Pod Security of every namespace holding a workload. A namespace the bundle does not
 * define gets the cluster default (`restricted`, tools/cluster-up.sh).
 * @param {any[]} docs every object of the bundle
 * @returns {Array<{ namespace: string, enforce: string, warn: string, audit: string, exception?: string, defined: boolean }>}
 */
export function namespacePolicies(docs) {
  const defs = new Map(docs.filter((d) => d.kind === 'Namespace' && d.apiVersion === 'v1').map((d) => [d.metadata.name, d]));
  const names = [...new Set(docs.filter((d) => POD_KINDS.includes(d.kind)).map((d) => d.metadata.namespace ?? 'default'))].sort();
  return names.map((namespace) => {
    const d = defs.get(namespace);
    const l = d?.metadata?.labels ?? {};
    const level = (k) => l[`pod-security.kubernetes.io/${k}`] ?? 'restricted';
    const exception = d?.metadata?.annotations?.[EXCEPTION_ANNOTATION];
    return { namespace, enforce: level('enforce'), warn: level('warn'), audit: level('audit'), ...(exception ? { exception } : {}), defined: !!d };
  });
}

/**
 * Problems with a namespace's declaration itself: an unknown level, a relaxed enforce level
 * without the exception annotation, or warn/audit relaxed as well (they must keep reporting
 * what `restricted` would refuse).
 * @param {ReturnType<typeof namespacePolicies>[number]} p
 * @returns {string[]}
 */
export function policyProblems(p) {
  const out = [];
  for (const k of ['enforce', 'warn', 'audit']) if (!LEVELS.includes(p[k])) out.push(`${k} level "${p[k]}" is not a Pod Security level`);
  if (p.enforce !== 'restricted' && !p.exception) out.push(`enforces "${p.enforce}" without an ${EXCEPTION_ANNOTATION} annotation`);
  if (p.enforce !== 'restricted' && (p.warn !== 'restricted' || p.audit !== 'restricted')) out.push(`relaxes warn/audit too (warn "${p.warn}", audit "${p.audit}"): they must stay "restricted"`);
  return out;
}

/**
 * The control Pod for a namespace and what the API server must answer (server dry-run):
 * - restricted: a Pod that only violates restricted (allowPrivilegeEscalation) is refused;
 * - baseline: a privileged Pod with a hostPath volume is refused as violating "baseline";
 * - privileged: nothing is refused, so the restricted-violating Pod is accepted, with the
 *   `restricted` warning proving warn/audit still judge it.
 * A relaxed namespace also gets the restricted-violating Pod: accepted, with that warning.
 * @param {string} namespace
 * @param {string} enforce
 * @returns {Array<{ what: string, pod: any, expect: 'refused' | 'accepted-with-warning', pattern: RegExp }>}
 */
export function controlCases(namespace, enforce) {
  const pod = (name, spec) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace }, spec });
  const escalating = pod('stackbook-psa-control', {
    containers: [{ name: 'c', image: 'registry.invalid/control:1', securityContext: { allowPrivilegeEscalation: true } }],
  });
  if (enforce === 'restricted') {
    return [{ what: 'a Pod violating restricted', pod: escalating, expect: 'refused', pattern: /violates PodSecurity "restricted/ }];
  }
  const cases = [{ what: `a Pod violating only restricted (allowed by "${enforce}")`, pod: escalating, expect: 'accepted-with-warning', pattern: /would violate PodSecurity "restricted/ }];
  if (enforce === 'baseline') {
    cases.push({
      what: 'a privileged hostPath Pod (forbidden by baseline)',
      pod: pod('stackbook-psa-control-baseline', {
        containers: [{ name: 'c', image: 'registry.invalid/control:1', securityContext: { privileged: true }, volumeMounts: [{ name: 'host', mountPath: '/host' }] }],
        volumes: [{ name: 'host', hostPath: { path: '/' } }],
      }),
      expect: 'refused',
      pattern: /violates PodSecurity "baseline/,
    });
  }
  return cases;
}

/**
 * Splits `kubectl apply` warnings into expected and unexpected ones. The only expected warning is
 * `would violate PodSecurity "restricted..."` from a workload of the applied file that lives in a
 * relaxed namespace (enforce below restricted, annotated) and carries the exception annotation
 * itself, naming only containers of such workloads: warn stays `restricted` there on purpose.
 * @param {string[]} warnings lines starting with "Warning:"
 * @param {any[]} fileDocs the objects of the applied file
 * @param {ReturnType<typeof namespacePolicies>} policies
 * @returns {{ expected: string[], unexpected: string[] }}
 */
export function classifyApplyWarnings(warnings, fileDocs, policies) {
  const relaxed = new Set(policies.filter((p) => p.enforce !== 'restricted' && p.exception).map((p) => p.namespace));
  const excused = fileDocs.filter(
    (d) => POD_KINDS.includes(d.kind) && relaxed.has(d.metadata.namespace ?? 'default') && d.metadata.annotations?.[EXCEPTION_ANNOTATION],
  );
  const containersOf = (d) => {
    const spec = d.kind === 'CronJob' ? d.spec?.jobTemplate?.spec?.template?.spec : d.kind === 'Pod' ? d.spec : d.spec?.template?.spec;
    return [...(spec?.initContainers ?? []), ...(spec?.containers ?? [])].map((c) => c.name);
  };
  const names = new Set(excused.flatMap(containersOf));
  const expected = [];
  const unexpected = [];
  let budget = excused.length; // at most one such warning per excused workload
  for (const w of warnings) {
    const named = [...w.matchAll(/container "([^"]+)"/g)].map((m) => m[1]);
    const ok = /^Warning: would violate PodSecurity "restricted:/.test(w) && named.length > 0 && named.every((n) => names.has(n)) && budget > 0;
    if (ok) {
      budget--;
      expected.push(w);
    } else unexpected.push(w);
  }
  return { expected, unexpected };
}
