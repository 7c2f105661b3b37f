// Pure helpers of the Pulumi cycle of the real-cluster tier (tools/test-cluster.mjs): canary
// values and where they may leak, the volumes a stack's claims need, the steps of a JSON preview.
// Tested without a cluster in test/cluster/pulumi-cycle.test.ts.

/**
 * Every way `value` can appear base64-encoded inside a longer base64 string: the encoding of a
 * substring depends on its offset modulo 3, so one needle per offset, cut to the characters that
 * depend on `value` alone.
 */
export function base64Needles(value) {
  const out = new Set();
  const bytes = Buffer.from(value, 'utf8');
  for (let offset = 0; offset < 3; offset++) {
    const enc = Buffer.concat([Buffer.alloc(offset), bytes]).toString('base64');
    // characters made of the value's bits only: from the first whole sextet after the offset to
    // the last whole sextet before the value ends
    const core = enc.slice(Math.ceil((offset * 8) / 6), Math.floor(((offset + bytes.length) * 8) / 6));
    if (core.length >= 8) out.add(core);
  }
  return [...out];
}

/**
 * Where each secret value appears in plain text or base64 (any alignment) in `sources`
 * ({ name, text }): one hit per (source, value, encoding).
 */
export function canaryHits(sources, values) {
  const hits = [];
  for (const { name, text } of sources) {
    for (const v of values) {
      if (text.includes(v)) hits.push({ source: name, encoding: 'plain', value: v });
      else if (base64Needles(v).some((n) => text.includes(n))) hits.push({ source: name, encoding: 'base64', value: v });
    }
  }
  return hits;
}

/** A canary: distinctive, safe in YAML, URLs and config, unique per stack and key. */
export function canaryValue(stack, key, random) {
  return `SbCanary${stack.replace(/[^A-Za-z0-9]/g, '')}${key.replace(/[^A-Za-z0-9]/g, '')}${random}`;
}

/** `stackbook:secrets.<configKey>` name for a Pulumi-owned key (lowerCamelCase, as the schema wants). */
export function canaryConfigKey(secretName, key) {
  const words = `${secretName}-${key}`.split(/[^A-Za-z0-9]+/).filter(Boolean);
  return `canary${words.map((w) => w[0].toUpperCase() + w.slice(1)).join('')}`;
}

/**
 * The persistent volumes a real cluster would provision for a stack's claims: one per
 * PersistentVolumeClaim and per StatefulSet claim (`<template>-<set>-<ordinal>`), pre-bound to it
 * (claimRef), the claim's size, access modes and class (`defaultClass` when it names none), plus
 * every StorageClass the claims name other than the default one (as the cluster's prerequisites).
 */
export function volumeFixtures(docs, defaultClass = 'standard') {
  const claims = [];
  for (const d of docs) {
    if (d.kind === 'PersistentVolumeClaim') claims.push({ namespace: d.metadata.namespace, name: d.metadata.name, spec: d.spec });
    if (d.kind === 'StatefulSet') {
      for (const t of d.spec?.volumeClaimTemplates ?? []) {
        for (let i = 0; i < (d.spec.replicas ?? 1); i++) {
          claims.push({ namespace: d.metadata.namespace, name: `${t.metadata.name}-${d.metadata.name}-${i}`, spec: t.spec });
        }
      }
    }
  }
  const labels = { 'stackbook.io/test-fixture': 'storage' };
  const classes = [...new Set(claims.map((c) => c.spec?.storageClassName).filter((c) => c && c !== defaultClass))].sort();
  const storageClasses = classes.map((name) => ({
    apiVersion: 'storage.k8s.io/v1',
    kind: 'StorageClass',
    metadata: { name, labels },
    provisioner: 'kubernetes.io/no-provisioner',
    volumeBindingMode: 'Immediate',
    reclaimPolicy: 'Retain',
  }));
  const volumes = claims.map((c) => ({
    apiVersion: 'v1',
    kind: 'PersistentVolume',
    metadata: { name: `pv-${c.namespace}-${c.name}`.toLowerCase().slice(0, 253), labels },
    spec: {
      capacity: { storage: c.spec?.resources?.requests?.storage ?? '1Gi' },
      accessModes: c.spec?.accessModes ?? ['ReadWriteOnce'],
      storageClassName: c.spec?.storageClassName ?? defaultClass,
      ...(c.spec?.volumeMode ? { volumeMode: c.spec.volumeMode } : {}),
      persistentVolumeReclaimPolicy: 'Retain',
      claimRef: { namespace: c.namespace, name: c.name },
      hostPath: { path: `/var/lib/stackbook-test/${c.namespace}/${c.name}` },
    },
  }));
  return { storageClasses, volumes };
}

/**
 * The steps of `pulumi preview --json`: `changes` counts every step that is not `same` by
 * operation, replacements and deletions first; `steps` lists them ({ op, urn }).
 */
export function previewSteps(jsonText) {
  const j = JSON.parse(jsonText);
  const steps = (j.steps ?? []).filter((s) => s.op !== 'same' && s.op !== 'read').map((s) => ({ op: s.op, urn: s.urn }));
  const counts = {};
  for (const [op, n] of Object.entries(j.changeSummary ?? {})) if (op !== 'same' && n > 0) counts[op] = n;
  return { steps, counts, same: j.changeSummary?.same ?? 0 };
}

const OP_ORDER = ['replace', 'create-replacement', 'delete-replaced', 'delete', 'update', 'create'];

/** `replace 1, delete 2, update 3, create 240` (replacements and deletions first), or `no changes`. */
export function formatCounts(counts) {
  const ops = Object.keys(counts).sort((a, b) => {
    const ia = OP_ORDER.indexOf(a) < 0 ? OP_ORDER.length : OP_ORDER.indexOf(a);
    const ib = OP_ORDER.indexOf(b) < 0 ? OP_ORDER.length : OP_ORDER.indexOf(b);
    return ia - ib || a.localeCompare(b);
  });
  return ops.length === 0 ? 'no changes' : ops.map((op) => `${op} ${counts[op]}`).join(', ');
}

/**
 * Lines where the engine says it took a plugin from $PATH ("using pulumi-<kind>-<name> from $PATH
 * at ...", pulumi v3.248 sdk/go/common/workspace/plugins.go:2192): every plugin the tier uses is
 * registered in PULUMI_HOME or ships beside the CLI, so any such line is a failure.
 */
export function ambientPluginWarnings(text) {
  return [...new Set(text.split('\n').filter((l) => /using pulumi-[a-z]+-[-a-z0-9]+ from \$PATH/.test(l)).map((l) => l.trim()))];
}
