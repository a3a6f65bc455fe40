#!/usr/bin/env node
/**
 * `npm run e2e:latest`: the version-drift check. Installs the newest published Claude Code, Codex
 * and OpenCode CLIs into a cache (.cache/e2e-latest/, gitignored; never e2e/ and never the library's
 * own dependencies), then runs the end-to-end suite against them, one file at a time (they drive
 * real CLIs), through AGENT_RELAY_E2E_CLAUDE / AGENT_RELAY_E2E_CODEX / AGENT_RELAY_E2E_OPENCODE. The pinned versions in
 * e2e/package.json stay what `npm test` uses; this run tells you before users do whether the next
 * versions still work.
 *
 * Flags: `--install-only` (fetch and print the versions, run nothing), `--no-install` (reuse the
 * cache), any other argument is a test file to run instead of every test/e2e/*.test.ts.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const cache = join(root, '.cache', 'e2e-latest');
const args = process.argv.slice(2);
const installOnly = args.includes('--install-only');
const noInstall = args.includes('--no-install');
const files = args.filter((a) => !a.startsWith('--'));
const PACKAGES = ['@anthropic-ai/claude-code', '@openai/codex', 'opencode-ai'];

const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const bin = (name) => join(cache, 'node_modules', '.bin', name);

function latest(pkg) {
  return execFileSync(npm, ['view', pkg, 'version'], { encoding: 'utf8' }).trim();
}

function versionOf(command) {
  return execFileSync(command, ['--version'], { encoding: 'utf8' }).trim().split('\n')[0];
}

if (!noInstall) {
  const versions = Object.fromEntries(PACKAGES.map((p) => [p, latest(p)]));
  mkdirSync(cache, { recursive: true });
  writeFileSync(
    join(cache, 'package.json'),
    `${JSON.stringify({ name: 'agent-relay-runner-e2e-latest', private: true, dependencies: versions }, null, 2)}\n`,
  );
  console.error(`e2e:latest: installing ${Object.entries(versions).map(([p, v]) => `${p}@${v}`).join(', ')} into ${cache}`);
  execFileSync(npm, ['install', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: cache, stdio: 'inherit' });
  // Newer npm may skip install scripts; Claude Code's only copies its native binary into place.
  if (spawnSync(bin('claude'), ['--version']).status !== 0) {
    execFileSync('node', ['install.cjs'], { cwd: join(cache, 'node_modules', '@anthropic-ai', 'claude-code'), stdio: 'inherit' });
  }
  // OpenCode's postinstall links its platform binary into opencode-ai/bin (run it if npm skipped
  // it), after which the platform packages (177 MB each, two match linux-x64) are dead weight.
  if (spawnSync(bin('opencode'), ['--version']).status !== 0) {
    execFileSync('node', ['postinstall.mjs'], { cwd: join(cache, 'node_modules', 'opencode-ai'), stdio: 'inherit' });
  }
  if (spawnSync(bin('opencode'), ['--version']).status === 0) {
    for (const entry of readdirSync(join(cache, 'node_modules'))) {
      if (/^opencode-(linux|darwin|windows)-/.test(entry)) rmSync(join(cache, 'node_modules', entry), { recursive: true, force: true });
    }
  }
}
if (!existsSync(bin('claude')) || !existsSync(bin('codex')) || !existsSync(bin('opencode'))) {
  console.error('e2e:latest: no CLIs in the cache; run without --no-install first');
  process.exit(2);
}
console.log(`claude ${versionOf(bin('claude'))}`);
console.log(`codex ${versionOf(bin('codex'))}`);
console.log(`opencode ${versionOf(bin('opencode'))}`);
if (installOnly) process.exit(0);

// The versions the tests expect are the ones the cache's manifest installed (as e2e/package.json
// is for the pinned run), not whatever the binaries print.
const installed = JSON.parse(readFileSync(join(cache, 'package.json'), 'utf8')).dependencies;
const env = {
  ...process.env,
  AGENT_RELAY_E2E_CLAUDE: bin('claude'),
  AGENT_RELAY_E2E_CLAUDE_VERSION: installed['@anthropic-ai/claude-code'],
  AGENT_RELAY_E2E_CODEX: bin('codex'),
  AGENT_RELAY_E2E_CODEX_VERSION: installed['@openai/codex'],
  AGENT_RELAY_E2E_OPENCODE: bin('opencode'),
  AGENT_RELAY_E2E_OPENCODE_VERSION: installed['opencode-ai'],
};
const targets = files.length > 0 ? files : readdirSync(join(root, 'test', 'e2e')).filter((f) => f.endsWith('.test.ts')).sort().map((f) => join('test', 'e2e', f));
const results = [];
for (const file of targets) {
  console.error(`\ne2e:latest: ${file}`);
  const run = spawnSync(process.execPath, [join(root, 'node_modules', 'vitest', 'vitest.mjs'), 'run', file], { cwd: root, env, stdio: 'inherit' });
  results.push({ file, ok: run.status === 0 });
}
console.log('\ne2e:latest summary');
for (const { file, ok } of results) console.log(`  ${ok ? 'pass' : 'FAIL'}  ${file}`);
process.exit(results.every((r) => r.ok) ? 0 : 1);
