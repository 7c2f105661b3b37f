#!/usr/bin/env bash
# The CLI's main job and the Pulumi program under mocks on the Node.js majors users run (22, 24;
# NODE_MAJORS to choose), besides the machine's own node that `npm test` uses. Each node binary
# comes from the npm registry: the package `node-<platform>-<arch>@<major>` (the same package the
# `node@<major>` package's preinstall fetches with npm; installed directly, no install script), cached
# in ~/.cache/stackbook-node/<major>. Per major:
#  - `stackbook synth --all` writes byte-for-byte the bundles this machine's node writes (diff -r),
#  - `stackbook check --all` passes,
#  - the Pulumi program's test files pass (vitest's workers run on that node).
# Run from .ci/run after `npm test`; needs the build (`npm ci` runs it).
set -euo pipefail
cd "$(dirname "$0")/.."
cache=${STACKBOOK_NODE_CACHE:-$HOME/.cache/stackbook-node}
pkg="node-$(node -p process.platform)-$(node -p process.arch)"
work=$(mktemp -d "${TMPDIR:-/tmp}/stackbook-node-matrix-XXXXXX")
trap 'rm -rf "$work"' EXIT

node bin/stackbook.js synth --all --out "$work/reference" >/dev/null
for major in ${NODE_MAJORS:-22 24}; do
  dir="$cache/$major"
  bin="$dir/node_modules/$pkg/bin/node"
  if ! [ -x "$bin" ] || [ "$("$bin" -p 'process.versions.node.split(".")[0]')" != "$major" ]; then
    mkdir -p "$dir"
    [ -f "$dir/package.json" ] || echo '{"private":true}' >"$dir/package.json"
    npm install --prefix "$dir" --no-audit --no-fund --ignore-scripts --no-save "$pkg@$major" >/dev/null
  fi
  echo "node-matrix: $("$bin" --version) ($pkg from the npm registry)"
  "$bin" bin/stackbook.js synth --all --out "$work/$major" >/dev/null
  diff -r "$work/reference" "$work/$major"
  echo "node-matrix: synth --all on $major: byte-identical to $(node --version)"
  "$bin" bin/stackbook.js check --all | tail -n 3
  # generous timeouts: they catch hangs; a loaded machine must not fail the matrix
  STACKBOOK_TEST_TIMEOUT_MS=600000 "$bin" node_modules/vitest/vitest.mjs run test/pulumi.test.ts test/pulumi-pipeline.test.ts test/secret-leakage.test.ts
done
