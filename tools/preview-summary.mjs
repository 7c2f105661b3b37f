#!/usr/bin/env node
// `node tools/preview-summary.mjs <stack> <preview.json> [exit-code]`: the markdown section of the PR
// comment for one `pulumi preview --json`: counts by operation (replacements and deletions first),
// then every replaced and deleted resource by name. Used by .github/workflows/pr.yml.
import { readFileSync } from 'node:fs';
import { formatCounts, previewSteps } from './lib/pulumi-cycle.mjs';

const [stack, file, code = '0'] = process.argv.slice(2);
if (!stack || !file) {
  process.stderr.write('usage: preview-summary.mjs <stack> <preview.json> [exit-code]\n');
  process.exit(2);
}
const out = [`#### pulumi preview \`${stack}\``, ''];
let text = '';
try {
  text = readFileSync(file, 'utf8');
  const { steps, counts, same } = previewSteps(text);
  out.push(`${formatCounts(counts)}${same ? ` (${same} unchanged)` : ''}${code !== '0' ? ` — **preview failed (exit ${code})**` : ''}`);
  const named = (ops) => steps.filter((s) => ops.includes(s.op)).map((s) => `\`${s.urn.split('::').slice(-2).join('::')}\``);
  const replaced = named(['replace', 'create-replacement', 'delete-replaced']);
  const deleted = named(['delete']);
  if (replaced.length) out.push('', `Replaced: ${[...new Set(replaced)].join(', ')}`);
  if (deleted.length) out.push('', `Deleted: ${deleted.join(', ')}`);
  const diags = (JSON.parse(text).diagnostics ?? []).filter((d) => d.severity === 'error').map((d) => String(d.message).trim());
  if (diags.length) out.push('', '```', ...diags.slice(0, 20), '```');
} catch (e) {
  out.push(`no preview summary: ${code !== '0' ? `preview failed (exit ${code}); ` : ''}${e.message.split('\n')[0]}`);
  if (text.trim()) out.push('', '```', text.slice(0, 4000), '```');
}
process.stdout.write(`${out.join('\n')}\n`);
