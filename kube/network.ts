/** IPv4/IPv6 CIDR blocks as NetworkPolicy ipBlocks and the stack config name them. */

/** An IPv4 CIDR such as 10.0.0.0/8 (each octet ≤ 255, prefix ≤ 32). */
export const IPV4_CIDR = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}\/(3[0-2]|[12]?\d)$/;

/** An IPv4 CIDR (octets ≤ 255, prefix ≤ 32) or an IPv6 one (prefix ≤ 128). */
export function isCidr(cidr: string): boolean {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(cidr);
  if (m) return m.slice(1, 5).every((o) => Number(o) <= 255) && Number(m[5]) <= 32;
  return /^[0-9a-fA-F:]+\/\d{1,3}$/.test(cidr) && cidr.includes(':') && Number(cidr.split('/')[1]) <= 128;
}

/** Whether a CIDR admits every address (`0.0.0.0/0`, `::/0`). */
export function isWholeInternet(cidr: string): boolean {
  return cidr === '0.0.0.0/0' || cidr === '::/0';
}

/** The first and last address of an IPv4 CIDR as numbers (a bare address is a /32); undefined when it is not one. */
export function ipv4Range(cidr: string): [number, number] | undefined {
  const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)(?:\/(\d+))?$/.exec(cidr);
  if (!m) return undefined;
  const n = ((Number(m[1]) * 256 + Number(m[2])) * 256 + Number(m[3])) * 256 + Number(m[4]);
  const size = 2 ** (32 - Number(m[5] ?? 32));
  const start = n - (n % size);
  return [start, start + size - 1];
}

/** Whether two IPv4 CIDR blocks share an address. */
export function cidrOverlaps(a: string, b: string): boolean {
  const x = ipv4Range(a);
  const y = ipv4Range(b);
  return x !== undefined && y !== undefined && x[0] <= y[1] && y[0] <= x[1];
}

/** Whether IPv4 CIDR `outer` contains all of CIDR `inner`. */
export function cidrContains(outer: string, inner: string): boolean {
  const o = ipv4Range(outer);
  const i = ipv4Range(inner);
  return o !== undefined && i !== undefined && o[0] <= i[0] && i[1] <= o[1];
}

/** A NetworkPolicy peer as the components describe it (components/network-policy.ts `Peer`), read structurally. */
type AnyPeer = { readonly cidr: string; readonly except?: readonly string[] } | { readonly pods?: Readonly<Record<string, string>> } | object;

/**
 * What is wrong with one allow rule, or undefined: the one check behind the AllowList component
 * and the operand rules (components/operand.ts `ruleOf`). No peers allows everyone, no ports
 * allows every port, `0.0.0.0/0`/`::/0` without exceptions is the whole internet, an empty pod
 * selector matches every pod, and a port is 1–65535.
 */
export function networkRuleProblem(peers: readonly AnyPeer[], ports: readonly { readonly port: number }[]): { readonly message: string; readonly value: unknown } | undefined {
  if (peers.length === 0) return { message: 'needs at least one peer (an empty peer list allows everyone)', value: [] };
  if (ports.length === 0) return { message: 'needs at least one port (no ports means all ports)', value: [] };
  for (const p of peers) {
    if ('cidr' in p && isWholeInternet(p.cidr) && !p.except) return { message: 'allows the whole internet; name the CIDRs', value: p.cidr };
    if ('pods' in p && p.pods && Object.keys(p.pods).length === 0) return { message: 'has an empty pod selector (matches every pod); name the pods', value: p.pods };
  }
  for (const port of ports) {
    if (!Number.isInteger(port.port) || port.port < 1 || port.port > 65535) return { message: 'port must be 1–65535', value: port.port };
  }
  return undefined;
}
