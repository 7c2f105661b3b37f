/**
 * Secrets (one abstraction, three sources) and rotation (OUB-15, AION-11): the ExternalSecret for
 * `vault`, nothing in the bundle for `pulumi`/`existing`, the Vault ClusterSecretStore, the rotation
 * annotation, and the render path from declared requirements + `stackbook:secretSources`.
 */
import { Chart } from 'cdk8s';
import { describe, expect, it } from 'vitest';
import {
  ManagedSecret,
  rotationAnnotations,
  secretListing,
  VaultSecretStore,
  type ManagedSecretProps,
  type VaultStoreProps,
} from '../../components/secret.js';
import { Workload } from '../../components/workload.js';
import { blocking, evaluate } from '../../policies/manifest-rules.js';
import { ope } from '../../services/ope.js';
import type { BuildContext, SecretHandle, SecretRequirement, ServiceModule } from '../../services/types.js';
import { ConfigError } from '../../stacks/load.js';
import type { Stack } from '../../stacks/schema.js';
import { stackSchema } from '../../stacks/schema.js';
import { phaseOf, render } from '../../synth/render.js';
import { ENVS, loadEnv } from '../helpers.js';
import { invalidManifests, validateManifest } from '../schema.js';
import { concernsOf, errorOf, newChart, objectsOf, only, type Json } from './util.js';

const VAULT = { store: 'vault', path: 'secret/omertaos/hooks' };

function buildSecret(overrides: Partial<ManagedSecretProps> = {}) {
  const chart = newChart();
  const s = new ManagedSecret(chart, 'S', { name: 'aion-hooks', namespace: 'aion', keys: ['hmacKey', 'apiKey'], source: 'vault', vault: VAULT, ...overrides });
  return { s, objects: objectsOf(chart) };
}

function buildStore(overrides: Partial<VaultStoreProps> = {}) {
  const chart = newChart();
  new VaultSecretStore(chart, 'V', { server: 'https://vault.corp.internal:8200', auth: { role: 'stackbook' }, namespaces: ['aion'], ...overrides });
  return only(objectsOf(chart), 'ClusterSecretStore');
}

// --------------------------------------------------------------------------------------------

describe('ManagedSecret, source vault: an external-secrets v1 ExternalSecret', () => {
  it('targets the Secret of the same name, owned by the ExternalSecret, one data entry per key (sorted)', () => {
    const es = only(buildSecret().objects, 'ExternalSecret');
    expect(es.apiVersion).toBe('external-secrets.io/v1');
    expect(es.metadata).toMatchObject({ name: 'aion-hooks', namespace: 'aion' });
    expect(es.spec.secretStoreRef).toEqual({ kind: 'ClusterSecretStore', name: 'vault' });
    expect(es.spec.target).toEqual({ name: 'aion-hooks', creationPolicy: 'Owner', deletionPolicy: 'Retain' });
    expect(es.spec.data).toEqual([
      { secretKey: 'apiKey', remoteRef: { key: 'secret/omertaos/hooks', property: 'apiKey' } },
      { secretKey: 'hmacKey', remoteRef: { key: 'secret/omertaos/hooks', property: 'hmacKey' } },
    ]);
  });

  it('defaults: refreshInterval 1h, rotation version 1 (annotation "1")', () => {
    const { s, objects } = buildSecret();
    const es = only(objects, 'ExternalSecret');
    expect(es.spec.refreshInterval).toBe('1h');
    expect(es.metadata.annotations['rotation.stackbook.io/version']).toBe('1');
    expect(s.version).toBe(1);
  });

  it('maps keys to Vault properties and takes a refresh interval and version', () => {
    const { objects } = buildSecret({ vault: { ...VAULT, properties: { hmacKey: 'hmac_key' }, refreshInterval: '15m' }, version: 4 });
    const es = only(objects, 'ExternalSecret');
    expect(es.spec.refreshInterval).toBe('15m');
    expect(es.metadata.annotations['rotation.stackbook.io/version']).toBe('4');
    expect(es.spec.data.map((d: Json) => d.remoteRef.property)).toEqual(['apiKey', 'hmac_key']);
  });

  it('is valid against the external-secrets CRD (v1), defaults and every option', () => {
    expect(validateManifest(only(buildSecret().objects, 'ExternalSecret'))).toEqual([]);
    const full = buildSecret({ vault: { ...VAULT, properties: { apiKey: 'api' }, refreshInterval: '1h30m' }, version: 9, concerns: ['AION-11'] });
    expect(validateManifest(only(full.objects, 'ExternalSecret'))).toEqual([]);
  });

  it('carries the given concerns, and none by default', () => {
    expect(concernsOf(only(buildSecret({ concerns: ['AION-11'] }).objects, 'ExternalSecret'))).toEqual(['AION-11']);
    expect(concernsOf(only(buildSecret().objects, 'ExternalSecret'))).toEqual([]);
  });
});

describe('ManagedSecret, sources pulumi and existing: nothing in the bundle', () => {
  it.each(['pulumi', 'existing'] as const)('%s renders no object', (source) => {
    const { s, objects } = buildSecret({ source, vault: undefined });
    expect(objects).toEqual([]);
    expect(s.externalSecret).toBeUndefined();
    expect(s.annotations).toEqual({ 'rotation.stackbook.io/secret-aion-hooks': '1' });
  });

  it('consumers read keys by reference, never by value', () => {
    const { s } = buildSecret({ source: 'existing', vault: undefined });
    expect(s.env('apiKey')).toEqual({ secret: { name: 'aion-hooks', key: 'apiKey' } });
    const e = errorOf(() => s.env('password'));
    expect(e.message).toContain('ManagedSecret "aion-hooks": env reads an undeclared key');
    expect(e.message).toContain('(got "password")');
  });
});

describe('ManagedSecret rejects invalid props, naming the prop and the value', () => {
  const cases: Array<[string, Partial<ManagedSecretProps>, string, string]> = [
    ['a name that is not a DNS name', { name: 'Aion_Hooks' }, 'name', '"Aion_Hooks"'],
    ['a name too long for the rotation annotation', { name: 'a'.repeat(57) }, 'name', `"${'a'.repeat(57)}"`],
    ['a namespace that is not a DNS label', { namespace: 'ai.on' }, 'namespace', '"ai.on"'],
    ['an unknown source', { source: 'sops' as never }, 'source', '"sops"'],
    ['no keys', { keys: [] }, 'keys', '[]'],
    ['an invalid key', { keys: ['api key'] }, 'keys', '"api key"'],
    ['a duplicate key', { keys: ['a', 'a'] }, 'keys', '"a"'],
    ['version 0', { version: 0 }, 'version', '0'],
    ['a fractional version', { version: 1.5 }, 'version', '1.5'],
    ['vault details on a pulumi Secret', { source: 'pulumi' }, 'vault', '"secret/omertaos/hooks"'],
    ['a store that is not a DNS name', { vault: { ...VAULT, store: 'My Store' } }, 'vault.store', '"My Store"'],
    ['a path with a leading slash', { vault: { ...VAULT, path: '/secret/x' } }, 'vault.path', '"/secret/x"'],
    ['a path with a trailing slash', { vault: { ...VAULT, path: 'secret/x/' } }, 'vault.path', '"secret/x/"'],
    ['a path without a mount', { vault: { ...VAULT, path: 'hooks' } }, 'vault.path', '"hooks"'],
    ['a path with a .. segment', { vault: { ...VAULT, path: 'secret/../x' } }, 'vault.path', '"secret/../x"'],
    ['a zero refresh interval (never refreshes)', { vault: { ...VAULT, refreshInterval: '0s' } }, 'vault.refreshInterval', '"0s"'],
    ['a refresh interval that is not a duration', { vault: { ...VAULT, refreshInterval: 'hourly' } }, 'vault.refreshInterval', '"hourly"'],
    ['a property for an undeclared key', { vault: { ...VAULT, properties: { token: 't' } } }, 'vault.properties.token', '"t"'],
    ['an empty property', { vault: { ...VAULT, properties: { apiKey: ' ' } } }, 'vault.properties.apiKey', '" "'],
  ];
  it.each(cases)('%s', (_label, overrides, prop, got) => {
    const e = errorOf(() => buildSecret(overrides));
    expect(e.name).toBe('ComponentError');
    expect(e.message).toContain(`ManagedSecret "${overrides.name ?? 'aion-hooks'}": ${prop} `);
    expect(e.message).toContain(`(got ${got})`);
  });

  it('source vault without vault details', () => {
    const e = errorOf(() => buildSecret({ vault: undefined }));
    expect(e.message).toBe('ManagedSecret "aion-hooks": vault is required with source vault (store and path)');
  });
});

// --------------------------------------------------------------------------------------------

describe('rotationAnnotations (OUB-15, AION-11)', () => {
  it('one annotation per Secret, keys sorted, version as a string, default 1', () => {
    const a = rotationAnnotations([{ name: 'b-token', version: 3 }, { name: 'a-key' }]);
    expect(a).toEqual({ 'rotation.stackbook.io/secret-a-key': '1', 'rotation.stackbook.io/secret-b-token': '3' });
    expect(Object.keys(a)).toEqual(['rotation.stackbook.io/secret-a-key', 'rotation.stackbook.io/secret-b-token']);
  });

  it('changes exactly when the version changes (so the consumers roll), and is otherwise stable', () => {
    expect(rotationAnnotations([{ name: 'k', version: 2 }])).toEqual(rotationAnnotations([{ name: 'k', version: 2 }]));
    expect(rotationAnnotations([{ name: 'k', version: 2 }])).not.toEqual(rotationAnnotations([{ name: 'k', version: 3 }]));
  });

  it('rolls the pods of a Workload that carries it, and is a valid annotation key', () => {
    const template = (version: number) => {
      const chart = newChart();
      new Workload(chart, 'W', {
        name: 'gateway', namespace: 'aion', image: 'example.com/gw:1', port: 8080,
        liveness: { path: '/livez' }, readiness: { path: '/readyz' },
        podAnnotations: rotationAnnotations([{ name: 'aion-gateway-keys', version }]),
      });
      const d = only(objectsOf(chart), 'Deployment');
      expect(validateManifest(d)).toEqual([]);
      return d.spec.template.metadata.annotations as Record<string, string>;
    };
    expect(template(1)).toEqual({ 'rotation.stackbook.io/secret-aion-gateway-keys': '1' });
    expect(template(2)).toEqual({ 'rotation.stackbook.io/secret-aion-gateway-keys': '2' });
  });

  it.each([
    [{ name: 'x', version: 0 }, 'version', '0'],
    [{ name: 'Bad_Name' }, 'name', '"Bad_Name"'],
  ])('rejects %j', (entry, prop, got) => {
    const e = errorOf(() => rotationAnnotations([entry]));
    expect(e.message).toContain(`rotationAnnotations "${entry.name}": ${prop} `);
    expect(e.message).toContain(`(got ${got})`);
  });

  it('rejects a Secret listed twice', () => {
    expect(errorOf(() => rotationAnnotations([{ name: 'x' }, { name: 'x', version: 2 }])).message).toContain('is listed twice');
  });
});

// --------------------------------------------------------------------------------------------

describe('VaultSecretStore: a ClusterSecretStore for Vault', () => {
  it('defaults: name vault, KV mount secret, KV v2, Kubernetes auth at kubernetes with the controller\'s own token, no CA', () => {
    const s = buildStore();
    expect(s.apiVersion).toBe('external-secrets.io/v1');
    expect(s.metadata.name).toBe('vault');
    expect(s.metadata.namespace).toBeUndefined();
    expect(s.spec.provider).toEqual({
      vault: {
        server: 'https://vault.corp.internal:8200',
        path: 'secret',
        version: 'v2',
        auth: { kubernetes: { mountPath: 'kubernetes', role: 'stackbook' } },
      },
    });
  });

  it('is usable only from the namespaces given (sorted, once each)', () => {
    expect(buildStore({ namespaces: ['oub', 'aion', 'oub'] }).spec.conditions).toEqual([{ namespaces: ['aion', 'oub'] }]);
  });

  it('takes a service account, a CA from a ConfigMap or Secret, a Vault namespace, a store name', () => {
    const s = buildStore({
      name: 'corp-vault',
      mountPath: 'kv/platform',
      kvVersion: 'v1',
      vaultNamespace: 'platform',
      auth: { role: 'eso', mountPath: 'k8s-prod', serviceAccount: { name: 'eso-vault', namespace: 'external-secrets', audiences: ['vault'] } },
      ca: { kind: 'ConfigMap', name: 'vault-ca', namespace: 'external-secrets', key: 'ca.crt' },
    });
    expect(s.metadata.name).toBe('corp-vault');
    expect(s.spec.provider.vault).toEqual({
      server: 'https://vault.corp.internal:8200',
      path: 'kv/platform',
      version: 'v1',
      namespace: 'platform',
      caProvider: { type: 'ConfigMap', name: 'vault-ca', namespace: 'external-secrets', key: 'ca.crt' },
      auth: {
        kubernetes: {
          mountPath: 'k8s-prod',
          role: 'eso',
          serviceAccountRef: { name: 'eso-vault', namespace: 'external-secrets', audiences: ['vault'] },
        },
      },
    });
    expect(validateManifest(s)).toEqual([]);
    expect(validateManifest(buildStore())).toEqual([]);
    expect(validateManifest(buildStore({ ca: { kind: 'Secret', name: 'vault-ca', namespace: 'vault', key: 'ca.pem' } }))).toEqual([]);
  });

  const cases: Array<[string, Partial<VaultStoreProps>, string, string]> = [
    ['a plain-http server', { server: 'http://vault:8200' }, 'server', '"http://vault:8200"'],
    ['a server URL with credentials', { server: 'https://u:p@vault:8200' }, 'server', '"https://u:p@vault:8200"'],
    ['a server that is not a URL', { server: 'vault' }, 'server', '"vault"'],
    ['a mount path with a leading slash', { mountPath: '/secret' }, 'mountPath', '"/secret"'],
    ['an unknown KV version', { kvVersion: 'v3' as never }, 'kvVersion', '"v3"'],
    ['an empty role', { auth: { role: '' } }, 'auth.role', '""'],
    ['a service account without a valid namespace', { auth: { role: 'r', serviceAccount: { name: 'eso', namespace: 'Ext' } } }, 'auth.serviceAccount', '"Ext/eso"'],
    ['a CA of another kind', { ca: { kind: 'File' as never, name: 'ca', namespace: 'v', key: 'ca.crt' } }, 'ca.kind', '"File"'],
    ['a CA key with a slash', { ca: { kind: 'Secret', name: 'ca', namespace: 'v', key: 'a/b' } }, 'ca.key', '"a/b"'],
    ['no namespaces (every namespace could read Vault)', { namespaces: [] }, 'namespaces', '[]'],
    ['an invalid namespace', { namespaces: ['Aion'] }, 'namespaces', '"Aion"'],
  ];
  it.each(cases)('rejects %s', (_label, overrides, prop, got) => {
    const e = errorOf(() => buildStore(overrides));
    expect(e.name).toBe('ComponentError');
    expect(e.message).toContain(`VaultSecretStore "${overrides.name ?? 'vault'}": ${prop} `);
    expect(e.message).toContain(`(got ${got})`);
  });
});

describe('secretListing: what secrets.json says about a Secret', () => {
  it('name, namespace, sorted keys and consumers, source, version; the Vault path and property per key for vault', () => {
    const req: SecretRequirement = {
      name: 'aion-hooks', namespace: 'aion', keys: ['hmacKey', 'apiKey'], source: 'vault', consumers: ['gateway', 'control'],
      vault: { path: 'secret/omertaos/hooks', properties: { hmacKey: 'hmac_key' } }, version: 2,
    };
    expect(secretListing(req)).toEqual({
      name: 'aion-hooks', namespace: 'aion', keys: ['apiKey', 'hmacKey'], source: 'vault', consumers: ['control', 'gateway'], version: 2,
      vault: { path: 'secret/omertaos/hooks', properties: { apiKey: 'apiKey', hmacKey: 'hmac_key' } },
    });
  });

  it('never carries how a pulumi value is made (config key names stay out of the bundle, too)', () => {
    const req: SecretRequirement = {
      name: 'db', namespace: 'aion', keys: ['password'], source: 'pulumi', consumers: ['api'], pulumi: { password: { configKey: 'dbPassword' } },
    };
    expect(secretListing(req)).toEqual({ name: 'db', namespace: 'aion', keys: ['password'], source: 'pulumi', consumers: ['api'], version: 1 });
  });
});

// --------------------------------------------------------------------------------------------
// The render path: a service declares Secrets; the stack picks their sources and versions.

/** A test module beside OPE: a consumer Deployment in OPE's namespace reading two declared Secrets. */
function fixtureModule(declare: (ctx: BuildContext) => SecretHandle[]): ServiceModule {
  return {
    ...ope,
    build(scope, ctx) {
      const handles = declare(ctx);
      const chart = new Chart(scope, 'secret-fixture', { disableResourceNameHashes: true });
      new Workload(chart, 'Consumer', {
        // through ctx.image, so the stack's ClusterImagePolicy covers it (image-policy-satisfiable)
        name: 'hooks', namespace: 'ope', image: ctx.image({ repository: 'example.com/hooks', tag: '1', digest: 'sha256:' + 'a'.repeat(64) }), port: 8080,
        liveness: { path: '/livez' }, readiness: { path: '/readyz' },
        env: Object.fromEntries(handles.map((h, i) => [`KEY_${i}`, h.env(h.requirement.keys[0]!)])),
        podAnnotations: Object.assign({}, ...handles.map((h) => h.annotations)),
      });
    },
  };
}

const declareTwo = (ctx: BuildContext) => [
  ctx.requireSecret({
    name: 'hooks-hmac', namespace: 'ope', keys: ['hmacKey'], source: 'pulumi', consumers: ['hooks'],
    pulumi: { hmacKey: { randomLength: 48 } }, concerns: ['AION-11'],
  }),
  ctx.requireSecret({ name: 'hooks-api', namespace: 'ope', keys: ['apiKey'], source: 'existing', consumers: ['hooks'] }),
];

// A private Vault host names its CA (issue 14 item 6).
const VAULT_CLUSTER = { server: 'https://vault.corp.internal:8200', auth: { role: 'stackbook' }, ca: { kind: 'ConfigMap', name: 'corp-ca', namespace: 'external-secrets', key: 'ca.crt' } };

function stackWith(extra: { secretSources?: unknown; vault?: unknown }, env = 'prod'): Stack {
  const base = loadEnv(env);
  // The real stack's own Vault connection (if any) is dropped: only the fixture's `vault` counts.
  const { vault: _ownVault, ...cluster } = base.cluster;
  return stackSchema.parse({
    ...base,
    cluster: { ...cluster, ...(extra.vault ? { vault: extra.vault } : {}) },
    secretSources: extra.secretSources ?? {},
  });
}

function renderFixture(stack: Stack, declare = declareTwo) {
  return render(stack, [ope, fixtureModule(declare)]);
}

describe('render: declared Secrets, stack-chosen sources, rotation', () => {
  it('with no override: the declared sources, version 1, nothing in the bundle but the consumer annotations', () => {
    const r = renderFixture(stackWith({}));
    expect(r.secrets.map((s) => [s.name, s.source, s.version])).toEqual([['hooks-api', 'existing', 1], ['hooks-hmac', 'pulumi', 1]]);
    expect(r.objects.filter((o) => /Secret/.test(o.kind))).toEqual([]);
    const d = r.objects.find((o) => o.kind === 'Deployment' && o.metadata.name === 'hooks')! as Json;
    expect(d.spec.template.metadata.annotations).toEqual({ 'rotation.stackbook.io/secret-hooks-api': '1', 'rotation.stackbook.io/secret-hooks-hmac': '1' });
    expect(d.spec.template.spec.containers[0].env).toEqual([
      { name: 'KEY_0', valueFrom: { secretKeyRef: { name: 'hooks-hmac', key: 'hmacKey' } } },
      { name: 'KEY_1', valueFrom: { secretKeyRef: { name: 'hooks-api', key: 'apiKey' } } },
    ]);
  });

  it('a vault override renders the ExternalSecret (config phase) and one ClusterSecretStore limited to its namespace (cluster phase)', () => {
    const r = renderFixture(stackWith({
      vault: VAULT_CLUSTER,
      secretSources: { 'hooks-hmac': { source: 'vault', path: 'secret/omertaos/hooks', properties: { hmacKey: 'hmac' }, version: 3 } },
    }));
    const es = r.objects.find((o) => o.kind === 'ExternalSecret')! as Json;
    const store = r.objects.find((o) => o.kind === 'ClusterSecretStore')! as Json;
    expect(phaseOf(es as never)).toBe('config');
    expect(phaseOf(store as never)).toBe('cluster');
    expect(es.metadata).toMatchObject({ name: 'hooks-hmac', namespace: 'ope' });
    expect(es.spec.data).toEqual([{ secretKey: 'hmacKey', remoteRef: { key: 'secret/omertaos/hooks', property: 'hmac' } }]);
    expect(es.spec.secretStoreRef).toEqual({ kind: 'ClusterSecretStore', name: 'vault' });
    expect(concernsOf(es)).toEqual(['AION-11']);
    expect(store.spec.conditions).toEqual([{ namespaces: ['ope'] }]);
    expect(r.objects.filter((o) => o.kind === 'ExternalSecret' || o.kind === 'ClusterSecretStore')).toHaveLength(2);
    const req = r.secrets.find((s) => s.name === 'hooks-hmac')!;
    expect(req).toMatchObject({ source: 'vault', version: 3, vault: { path: 'secret/omertaos/hooks', properties: { hmacKey: 'hmac' }, refreshInterval: '1h' } });
    expect(req.pulumi).toBeUndefined();
    expect(invalidManifests(r.objects)).toEqual({});
    // the fixture's hooks Deployment takes its keys as env on purpose (the consumer annotations under
    // test); rule secret-env refuses exactly that and nothing else
    expect(blocking(evaluate(r.objects)).map((v) => `${v.rule} ${v.object}`)).toEqual(['secret-env Deployment ope/hooks', 'secret-env Deployment ope/hooks']);
  });

  it('a version bump changes only the rotation annotations of that Secret (consumer pod template, ExternalSecret)', () => {
    const at = (version: number) =>
      renderFixture(stackWith({ vault: VAULT_CLUSTER, secretSources: { 'hooks-hmac': { source: 'vault', path: 'secret/omertaos/hooks', version } } }));
    const a = JSON.stringify(at(1).objects);
    const b = JSON.stringify(at(2).objects);
    expect(a).not.toBe(b);
    const undo = b
      .replace('"rotation.stackbook.io/secret-hooks-hmac":"2"', '"rotation.stackbook.io/secret-hooks-hmac":"1"')
      .replace('"rotation.stackbook.io/version":"2"', '"rotation.stackbook.io/version":"1"');
    expect(undo).toBe(a);
    expect(JSON.stringify(at(2).objects)).toBe(b); // deterministic
  });

  it('pulumi and existing overrides render nothing and keep (or replace) the pulumi value sources', () => {
    const r = renderFixture(stackWith({
      secretSources: { 'hooks-hmac': { source: 'existing', version: 2 }, 'hooks-api': { source: 'pulumi', values: { apiKey: { configKey: 'hooksApiKey' } } } },
    }));
    expect(r.objects.filter((o) => /Secret/.test(o.kind))).toEqual([]);
    expect(r.secrets.find((s) => s.name === 'hooks-api')).toMatchObject({ source: 'pulumi', version: 1, pulumi: { apiKey: { configKey: 'hooksApiKey' } } });
    const hmac = r.secrets.find((s) => s.name === 'hooks-hmac')!;
    expect(hmac).toMatchObject({ source: 'existing', version: 2 });
    expect(hmac.pulumi).toBeUndefined();
  });

  it('a source for a Secret no service declares is a config error naming the stack file and the key', () => {
    const e = errorOf(() => renderFixture(stackWith({ secretSources: { 'hooks-hmca': { source: 'existing' } } })));
    expect(e).toBeInstanceOf(ConfigError);
    expect(e.message).toBe(
      'stacks/Pulumi.prod.yaml: config.stackbook:secretSources.hooks-hmca: no enabled service declares a Secret named hooks-hmca (declared: hooks-api, hooks-hmac)',
    );
  });

  it('a service that declares a vault Secret on a stack without cluster.vault gets a config error naming the Vault path', () => {
    const declareVault = (ctx: BuildContext) => [
      ctx.requireSecret({ name: 'hooks', namespace: 'ope', keys: ['k'], source: 'vault', consumers: ['hooks'], vault: { path: 'secret/omertaos/hooks' } }),
    ];
    const e = errorOf(() => renderFixture(stackWith({}), declareVault));
    expect(e).toBeInstanceOf(ConfigError);
    expect(e.message).toBe('stacks/Pulumi.prod.yaml: config.stackbook:cluster.vault: required: Secret ope/hooks is read from Vault path secret/omertaos/hooks');
    const outside = errorOf(() => renderFixture(stackWith({ vault: { ...VAULT_CLUSTER, mountPath: 'kv' } }), declareVault));
    expect(outside.message).toContain('config.stackbook:secretSources.hooks.path: Vault path secret/omertaos/hooks must start with the KV mount of cluster.vault (kv/)');
  });

  it('a handle refuses a key the Secret does not declare', () => {
    const declareBad = (ctx: BuildContext) => {
      const h = ctx.requireSecret({ name: 'hooks', namespace: 'ope', keys: ['k'], source: 'existing', consumers: ['hooks'] });
      h.env('other');
      return [h];
    };
    expect(errorOf(() => renderFixture(stackWith({}), declareBad)).message).toBe('Secret ope/hooks has no declared key other (declared: k)');
  });

  it('the real stacks: a ClusterSecretStore exactly where some Secret is vault-sourced, restricted to those namespaces; no Secret or ExternalSecret holds a value', () => {
    const withStore: string[] = [];
    for (const env of ENVS) {
      const stack = loadEnv(env);
      const r = render(stack);
      const vaultReqs = r.secrets.filter((s) => s.source === 'vault');
      const vaultNamespaces = [...new Set(vaultReqs.map((s) => s.namespace))].sort();
      const stores = r.objects.filter((o) => o.kind === 'ClusterSecretStore') as Json[];
      const externals = r.objects.filter((o) => o.kind === 'ExternalSecret') as Json[];
      // No Secret object ever reaches the bundle (values exist only in Vault, Pulumi state or the cluster).
      expect(r.objects.filter((o) => o.kind === 'Secret'), env).toEqual([]);
      if (vaultReqs.length === 0) {
        expect(stores, env).toEqual([]);
        expect(externals, env).toEqual([]);
        continue;
      }
      withStore.push(env);
      expect(stack.cluster.vault, env).toBeDefined();
      expect(stores, env).toHaveLength(1);
      const store = stores[0]!;
      expect(store.metadata.name, env).toBe(stack.cluster.vault!.storeName);
      expect(store.spec.conditions, env).toEqual([{ namespaces: vaultNamespaces }]);
      expect(store.spec.provider.vault.server, env).toBe(stack.cluster.vault!.server);
      // One ExternalSecret per vault-sourced Secret, and nothing else: each reads the declared Vault path
      // through the store, by reference only.
      expect(externals.map((e) => `${e.metadata.namespace}/${e.metadata.name}`).sort(), env).toEqual(
        vaultReqs.map((s) => `${s.namespace}/${s.name}`).sort(),
      );
      for (const req of vaultReqs) {
        const es = externals.find((e) => e.metadata.namespace === req.namespace && e.metadata.name === req.name)!;
        const id = `${env} ExternalSecret ${req.namespace}/${req.name}`;
        expect(es.spec.secretStoreRef, id).toEqual({ kind: 'ClusterSecretStore', name: store.metadata.name });
        expect(es.spec.target.template, id).toBeUndefined();
        expect(es.spec.dataFrom, id).toBeUndefined();
        expect(es.spec.data.map((d: Json) => d.secretKey).sort(), id).toEqual([...req.keys].sort());
        for (const d of es.spec.data as Json[]) {
          expect(Object.keys(d).sort(), id).toEqual(['remoteRef', 'secretKey']);
          expect(Object.keys(d.remoteRef).sort(), id).toEqual(['key', 'property']);
          expect(d.remoteRef.key, id).toBe(req.vault!.path);
        }
      }
    }
    // AION reads Vault outside development: the property above was exercised, not skipped.
    expect(withStore.length).toBeGreaterThan(0);
  });

});
