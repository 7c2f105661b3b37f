/**
 * `stackbook report <env> --html <file>`: one self-contained HTML page per stack, for reviewers:
 * - the connectivity graph (review/connectivity.ts), laid out by dagre (@dagrejs/dagre) and drawn
 *   as inline SVG: every workload a node (grouped by namespace), every allowed flow an edge
 *   labelled with its ports, outside peers (ingress controller, Prometheus, kube-dns, CIDRs) as
 *   grey nodes;
 * - the objects by namespace with the catalog concerns they carry, and the catalog's concerns of
 *   the stack's services linking to the objects that implement them;
 * - the policy exceptions with their reasons;
 * - the failure budget (reports/failure-budget.ts).
 * No script, no external resource: it opens from a file, offline. Deterministic: same objects,
 * same bytes.
 */
import dagre from '@dagrejs/dagre';
import { flowsOf, workloadsOf, type Flow, type Obj } from './connectivity.js';
import { budgetRows } from '../reports/failure-budget.js';
import type { Manifest } from '../synth/render.js';

export interface CatalogConcern {
  readonly id: string;
  readonly text: string;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const anchor = (o: Obj) => `obj-${o.kind}-${o.metadata.namespace ?? '_'}-${o.metadata.name}`.replace(/[^A-Za-z0-9_-]/g, '-');
const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
const round = (n: number) => Math.round(n * 10) / 10;

interface Edge {
  readonly from: string;
  readonly to: string;
  readonly ports: string[];
}

/** Flows merged per (from, to), ports listed. */
function edgesOf(flows: readonly Flow[]): Edge[] {
  const m = new Map<string, Edge>();
  for (const f of flows) {
    const k = `${f.from}\u0000${f.to}`;
    const e = m.get(k) ?? { from: f.from, to: f.to, ports: [] };
    e.ports.push(f.port === 'any' ? 'any' : f.port.replace(/\/TCP$/, ''));
    m.set(k, e);
  }
  return [...m.values()].sort((a, b) => cmp(a.from, b.from) || cmp(a.to, b.to));
}

/** The graph as inline SVG; node ids in `data-node`, edges in `data-flow="from → to"`. */
export function connectivitySvg(objects: readonly Obj[]): string {
  const workloads = workloadsOf(objects);
  const ids = new Set(workloads.map((w) => `${w.namespace}/${w.name}`));
  // DNS (port 53) is allowed to every workload by its default-deny policy: said once in the
  // caption, not drawn 2 × N times.
  const edges = edgesOf(flowsOf(objects)).filter((e) => !e.ports.every((p) => p === '53' || p === '53/UDP'));
  const g = new dagre.graphlib.Graph({ compound: true, multigraph: false });
  g.setGraph({ rankdir: 'LR', nodesep: 14, ranksep: 90, marginx: 16, marginy: 16 });
  g.setDefaultEdgeLabel(() => ({}));
  const nodeWidth = (label: string) => Math.max(90, label.length * 6.6 + 16);
  const namespaces = [...new Set(workloads.map((w) => w.namespace))].sort();
  for (const ns of namespaces) g.setNode(`ns:${ns}`, { label: ns });
  for (const w of workloads) {
    const id = `${w.namespace}/${w.name}`;
    g.setNode(id, { label: w.name, width: nodeWidth(w.name), height: 28 });
    g.setParent(id, `ns:${w.namespace}`);
  }
  const outside = [...new Set(edges.flatMap((e) => [e.from, e.to]).filter((n) => !ids.has(n)))].sort();
  for (const n of outside) g.setNode(n, { label: n, width: nodeWidth(n), height: 28 });
  for (const e of edges) g.setEdge(e.from, e.to, { label: e.ports.join(', '), width: e.ports.join(', ').length * 5.5, height: 12, labelpos: 'c' });
  dagre.layout(g);
  const graph = g.graph();
  const W = Math.ceil(graph.width ?? 100);
  const H = Math.ceil(graph.height ?? 100);
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" id="connectivity" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" font-family="sans-serif" font-size="11">`);
  parts.push('<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>');
  for (const ns of namespaces) {
    const n = g.node(`ns:${ns}`);
    parts.push(
      `<g class="namespace" data-namespace="${esc(ns)}"><rect x="${round(n.x - n.width / 2)}" y="${round(n.y - n.height / 2)}" width="${round(n.width)}" height="${round(n.height)}" rx="8" fill="#f3f6fb" stroke="#9db0cf"/>` +
        `<text x="${round(n.x - n.width / 2 + 8)}" y="${round(n.y - n.height / 2 + 13)}" font-weight="bold" fill="#35507a">${esc(ns)}</text></g>`,
    );
  }
  for (const e of edges) {
    const ed = g.edge(e.from, e.to);
    const d = ed.points.map((p: { x: number; y: number }, i: number) => `${i === 0 ? 'M' : 'L'}${round(p.x)},${round(p.y)}`).join(' ');
    parts.push(
      `<g class="flow" data-flow="${esc(`${e.from} → ${e.to}`)}"><path d="${d}" fill="none" stroke="#555" stroke-width="1.2" marker-end="url(#arrow)"/>` +
        `<text x="${round(ed.x)}" y="${round(ed.y)}" text-anchor="middle" fill="#333" font-size="9">${esc(e.ports.join(', '))}</text><title>${esc(`${e.from} → ${e.to}: ${e.ports.join(', ')}`)}</title></g>`,
    );
  }
  for (const id of [...[...ids].sort(), ...outside]) {
    const n = g.node(id);
    const inside = ids.has(id);
    parts.push(
      `<g class="node${inside ? '' : ' outside'}" data-node="${esc(id)}"><rect x="${round(n.x - n.width / 2)}" y="${round(n.y - n.height / 2)}" width="${round(n.width)}" height="${round(n.height)}" rx="5" fill="${inside ? '#ffffff' : '#eeeeee'}" stroke="${inside ? '#35507a' : '#999'}"/>` +
        `<text x="${round(n.x)}" y="${round(n.y + 4)}" text-anchor="middle" fill="${inside ? '#111' : '#555'}">${esc(String(n.label))}</text></g>`,
    );
  }
  parts.push('</svg>');
  return parts.join('\n');
}

const CONCERNS = 'stackbook.io/concerns';
const EXCEPTION = 'exception.stackbook.io/';

/** The whole page. `catalog`: the concerns of ../shared/runbooks/CONCERNS.md (optional). */
export function htmlReport(env: string, objects: readonly Manifest[], catalog: readonly CatalogConcern[] = []): string {
  const objs = objects as unknown as Obj[];
  const sorted = [...objs].sort((a, b) => cmp(a.metadata.namespace ?? '', b.metadata.namespace ?? '') || cmp(a.kind, b.kind) || cmp(a.metadata.name, b.metadata.name));
  const byConcern = new Map<string, Obj[]>();
  for (const o of sorted) {
    for (const c of (o.metadata.annotations?.[CONCERNS] ?? '').split(',').filter(Boolean)) byConcern.set(c, [...(byConcern.get(c) ?? []), o]);
  }
  const kinds = new Map<string, number>();
  for (const o of objs) kinds.set(o.kind, (kinds.get(o.kind) ?? 0) + 1);
  const ref = (o: Obj) => `${o.kind} ${o.metadata.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata.name}`;
  const prefixes = new Set([...byConcern.keys()].map((c) => c.split('-')[0]));
  const concerns = catalog.filter((c) => prefixes.has(c.id.split('-')[0]));
  const exceptions = sorted.flatMap((o) =>
    Object.entries(o.metadata.annotations ?? {})
      .filter(([k]) => k.startsWith(EXCEPTION))
      .map(([k, reason]) => ({ o, rule: k.slice(EXCEPTION.length), reason })),
  );
  const budget = budgetRows(env, objects);
  const out: string[] = [];
  out.push('<!doctype html>', '<html lang="en"><head><meta charset="utf-8">', `<title>stackbook: ${esc(env)}</title>`);
  out.push(
    '<style>body{font-family:sans-serif;margin:24px;color:#111}table{border-collapse:collapse;margin:8px 0 24px}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;font-size:13px;vertical-align:top}th{background:#f3f6fb}code{font-size:12px}.graph{overflow:auto;border:1px solid #ddd;padding:8px}.missing{color:#a00}</style>',
  );
  out.push('</head><body>');
  out.push(`<h1>stackbook — ${esc(env)}</h1>`);
  out.push(`<p>${objs.length} objects: ${[...kinds].sort(([a], [b]) => cmp(a, b)).map(([k, n]) => `${esc(k)} ${n}`).join(', ')}.</p>`);
  out.push('<h2 id="connectivity-graph">Who can talk to whom</h2>');
  out.push('<p>Allowed flows computed from the NetworkPolicies and pod labels (both ends judged). Grey nodes are outside the stack. DNS (port 53) flows are not drawn.</p>');
  out.push(`<div class="graph">${connectivitySvg(objs)}</div>`);
  if (concerns.length > 0) {
    out.push('<h2 id="concerns">Runbook concerns</h2><table><tr><th>concern</th><th>what the runbook asks</th><th>objects</th></tr>');
    for (const c of concerns) {
      const impl = byConcern.get(c.id) ?? [];
      out.push(
        `<tr id="concern-${esc(c.id)}"><td><code>${esc(c.id)}</code></td><td>${esc(c.text)}</td><td>${
          impl.length === 0 ? '<span class="missing">no object in this stack</span>' : impl.map((o) => `<a href="#${anchor(o)}">${esc(ref(o))}</a>`).join('<br>')
        }</td></tr>`,
      );
    }
    out.push('</table>');
  }
  out.push('<h2 id="exceptions">Policy exceptions</h2>');
  if (exceptions.length === 0) out.push('<p>None.</p>');
  else {
    out.push('<table><tr><th>object</th><th>rule relaxed</th><th>reason</th></tr>');
    for (const x of exceptions) out.push(`<tr><td><a href="#${anchor(x.o)}">${esc(ref(x.o))}</a></td><td><code>${esc(x.rule)}</code></td><td>${esc(x.reason)}</td></tr>`);
    out.push('</table>');
  }
  out.push('<h2 id="failure-budget">Failure budget</h2><table><tr><th>namespace</th><th>workload</th><th>kind</th><th>replicas</th><th>PDB</th><th>spread</th><th>grace</th><th>failure tolerance</th></tr>');
  for (const r of budget) out.push(`<tr><td>${esc(r.namespace)}</td><td>${esc(r.workload)}</td><td>${esc(r.kind)}</td><td>${esc(r.replicas)}</td><td>${esc(r.pdb)}</td><td>${esc(r.spread)}</td><td>${esc(r.grace)}</td><td>${esc(r.tolerance)}</td></tr>`);
  out.push('</table>');
  out.push('<h2 id="objects">Objects</h2><table><tr><th>object</th><th>concerns</th></tr>');
  for (const o of sorted) {
    const cs = (o.metadata.annotations?.[CONCERNS] ?? '').split(',').filter(Boolean);
    out.push(`<tr id="${anchor(o)}"><td><code>${esc(ref(o))}</code></td><td>${cs.map((c) => `<a href="#concern-${esc(c)}">${esc(c)}</a>`).join(' ')}</td></tr>`);
  }
  out.push('</table></body></html>', '');
  return out.join('\n');
}
