/** meta: trace annotations (catalog IDs), reasoned exceptions, selector labels, checksums. */
import { describe, expect, it } from 'vitest';
import { ApiObject } from 'cdk8s';
import { checksum, CONCERNS_ANNOTATION, EXCEPTION_PREFIX, ephemeralStorageLimit, exception, imagePullPolicy, literalEnv, selectorLabels, stableJson, trace } from '../../components/meta.js';
import { errorOf, newChart, objectsOf } from './util.js';

function object() {
  const chart = newChart();
  const o = new ApiObject(chart, 'O', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' } });
  return { chart, o, json: () => objectsOf(chart)[0]! };
}

describe('trace', () => {
  it('annotates stackbook.io/concerns with the IDs, merged across calls, deduplicated and in catalog order', () => {
    const { o, json } = object();
    expect(CONCERNS_ANNOTATION).toBe('stackbook.io/concerns');
    trace(o, 'X-30', 'OPE-100');
    trace(o, 'OPE-20', 'X-30');
    expect(json().metadata.annotations[CONCERNS_ANNOTATION]).toBe('OPE-20,OPE-100,X-30');
  });

  it('accepts a list of objects', () => {
    const chart = newChart();
    const a = new ApiObject(chart, 'A', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a' } });
    const b = new ApiObject(chart, 'B', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'b' } });
    trace([a, b], 'X-31');
    for (const j of objectsOf(chart)) expect(j.metadata.annotations[CONCERNS_ANNOTATION]).toBe('X-31');
  });

  it.each(['OPE1', 'FOO-1', 'ope-1', 'X-', ''])('rejects %j, which is not a catalog ID', (id) => {
    const { o } = object();
    expect(errorOf(() => trace(o, id)).message).toContain(`"${id}"`);
  });
});

describe('exception', () => {
  it('records a reasoned exception as exception.stackbook.io/<rule>', () => {
    const { o, json } = object();
    exception(o, 'probes', 'one-shot job, no HTTP endpoint to probe');
    expect(json().metadata.annotations[`${EXCEPTION_PREFIX}probes`]).toBe('one-shot job, no HTTP endpoint to probe');
    expect(EXCEPTION_PREFIX).toBe('exception.stackbook.io/');
  });

  it.each(['', 'because', '         x'])('rejects a reason a reviewer cannot judge (%j)', (reason) => {
    const { o } = object();
    expect(errorOf(() => exception(o, 'probes', reason)).message).toContain('probes');
  });
});

describe('selectorLabels, stableJson, checksum', () => {
  it('selector labels are the literal name label', () => {
    expect(selectorLabels('ope')).toEqual({ 'app.kubernetes.io/name': 'ope' });
  });

  it('stableJson sorts keys at every depth but keeps array order', () => {
    expect(stableJson({ b: 1, a: { d: [2, 1], c: null } })).toBe('{"a":{"c":null,"d":[2,1]},"b":1}');
  });

  it('checksum ignores key order and changes with any value', () => {
    expect(checksum({ a: 1, b: { c: 2, d: 3 } })).toBe(checksum({ b: { d: 3, c: 2 }, a: 1 }));
    expect(checksum({ a: 1, b: { c: 2, d: 3 } })).not.toBe(checksum({ a: 1, b: { c: 2, d: 4 } }));
    expect(checksum([1, 2])).not.toBe(checksum([2, 1]));
  });
});

describe('container helpers shared by every component', () => {
  it('imagePullPolicy: IfNotPresent for a digest, Always for a tag (a moved tag is never run stale)', () => {
    expect(imagePullPolicy(`docker.io/library/redis:8.2.2-alpine@sha256:${'a'.repeat(64)}`)).toBe('IfNotPresent');
    expect(imagePullPolicy('docker.io/library/redis:8.2.2-alpine')).toBe('Always');
  });
  it('literalEnv: an empty value is rendered as { name } alone (the API server drops value: "")', () => {
    expect(literalEnv('DOCKER_TLS_CERTDIR', '')).toEqual({ name: 'DOCKER_TLS_CERTDIR' });
    expect(literalEnv('X', '0')).toEqual({ name: 'X', value: '0' });
  });
  it('ephemeralStorageLimit: 256Mi for logs plus every emptyDir size, in MiB', () => {
    expect(ephemeralStorageLimit([])).toBe('256Mi');
    expect(ephemeralStorageLimit(['64Mi', '2Gi'])).toBe('2368Mi');
    expect(() => ephemeralStorageLimit(['100m'])).toThrow('not a byte quantity');
  });
});
