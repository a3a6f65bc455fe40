#!/usr/bin/env node
// Runs every benchmark one after another (never in parallel: they measure the same two cores and
// the same disk), each writing its JSON to bench/results/. `npm run bench` builds first.
// `node bench/run.mjs outbox drain` runs only those. The real-CLI round trips (provider-claude,
// provider-opencode, roundtrip) are left out unless named: they need the pinned CLIs from e2e/install.sh (and
// roundtrip the built CLI in dist/, which `npm run bench` builds).
import { spawnSync } from 'node:child_process';

const all = {
  outbox: ['--import', 'tsx', 'bench/outbox.ts'],
  drain: ['--import', 'tsx', 'bench/drain.ts'],
  hook: ['--import', 'tsx', 'bench/hook.ts'],
  runner: ['--expose-gc', '--import', 'tsx', 'bench/runner.ts'],
  reply: ['--import', 'tsx', 'bench/reply.ts'],
  'provider-claude': ['--import', 'tsx', 'bench/provider-claude.ts'],
  'provider-opencode': ['--import', 'tsx', 'bench/provider-opencode.ts'],
  roundtrip: ['--import', 'tsx', 'bench/roundtrip.ts'],
};
const REAL_CLI = new Set(['provider-claude', 'provider-opencode', 'roundtrip']);
const wanted = process.argv.slice(2);
const names = wanted.length > 0 ? wanted : Object.keys(all).filter((name) => !REAL_CLI.has(name));
let failed = 0;
for (const name of names) {
  const args = all[name];
  if (!args) {
    console.error(`bench/run.mjs: no benchmark named ${name} (have: ${Object.keys(all).join(', ')})`);
    process.exit(2);
  }
  console.log(`\n=== ${name}`);
  const result = spawnSync(process.execPath, args, { stdio: 'inherit' });
  if (result.status !== 0) failed++;
}
process.exit(failed > 0 ? 1 : 0);
