#!/usr/bin/env node
// Entry point of the `stackbook` command: runs the compiled CLI (npm install / npm run build).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const built = fileURLToPath(new URL('../build/cli/main.js', import.meta.url));
if (!existsSync(built)) {
  process.stderr.write('stackbook: not built yet; run `npm install` (or `npm run build`) in the project first\n');
  process.exit(2);
}
const { main } = await import(built);
process.exitCode = await main(process.argv.slice(2));
