#!/usr/bin/env node
// Runs every benchmark one after another (never in parallel: they measure the same two cores and
// the same disk), each writing its JSON to bench/results/. `npm run bench` builds first.
// `node bench/run.mjs outbox drain` runs only those. The real-CLI round trip (provider-claude) is
// left out unless named: it needs the pinned CLIs from e2e/install.sh.
import { spawnSync } from 'node:child_process';

const all = {
  outbox: ['--import', 'tsx', 'bench/outbox.ts'],
  drain: ['--import', 'tsx', 'bench/drain.ts'],
  hook: ['--import', 'tsx', 'bench/hook.ts'],
  runner: ['--expose-gc', '--import', 'tsx', 'bench/runner.ts'],
  reply: ['--import', 'tsx', 'bench/reply.ts'],
  'provider-claude': ['--import', 'tsx', 'bench/provider-claude.ts'],
};
const wanted = process.argv.slice(2);
const names = wanted.length > 0 ? wanted : Object.keys(all).filter((name) => name !== 'provider-claude');
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
