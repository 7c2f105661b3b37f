/**
 * Kubernetes names (RFC 1123, as the API server validates them), written once: every config
 * schema, component and policy that checks a name uses these.
 */
import { ComponentError } from './errors.js';

/** RFC 1123 label: names, namespaces, port names, environment names (at most 63 characters). */
export const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** RFC 1123 subdomain: dot-separated labels (at most 253 characters). */
export const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** A label or annotation key: optional DNS-subdomain prefix and `/`, then a name of ≤ 63 characters. */
export const LABEL_KEY = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;

/** A label value: empty, or at most 63 characters, alphanumerics at both ends and `-_.` inside. */
export const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;

export function isDnsLabel(name: string, maxLength = 63): boolean {
  return name.length <= maxLength && DNS_LABEL.test(name);
}

export function isDnsSubdomain(name: string, maxLength = 253): boolean {
  return name.length <= maxLength && DNS_SUBDOMAIN.test(name);
}

/** Throw a ComponentError unless `name` is a DNS-1123 label of at most `maxLength` characters. */
export function checkName(component: string, id: string, prop: string, name: string, maxLength = 63): void {
  if (!isDnsLabel(name, maxLength)) throw new ComponentError(component, id, prop, `must be a DNS-1123 label of at most ${maxLength} characters`, name);
}

/** Throw a ComponentError unless `name` is a DNS-1123 subdomain. */
export function checkSubdomain(component: string, id: string, prop: string, name: string): void {
  if (!isDnsSubdomain(name)) throw new ComponentError(component, id, prop, 'must be a DNS-1123 subdomain', name);
}

/** Names that never resolve publicly (RFC 6761/8375, ICANN `.internal`, cluster DNS, undelegated private TLDs) and private IPv4. */
export function isPrivateName(host: string): boolean {
  const h = host.toLowerCase().replace(/\.$/, '');
  const v4 = /^(\d+)\.(\d+)\.\d+\.\d+$/.exec(h);
  if (v4) {
    const [a, b] = [Number(v4[1]), Number(v4[2])];
    return a === 10 || a === 127 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || (a === 100 && b >= 64 && b <= 127);
  }
  if (!h.includes('.')) return true;
  return ['internal', 'local', 'localhost', 'home.arpa', 'svc', 'cluster.local', 'corp', 'home', 'lan', 'intranet', 'private'].some((s) => h === s || h.endsWith(`.${s}`));
}
