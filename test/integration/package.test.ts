// The package as a host gets it: packed (`npm pack`), installed into a fresh project with
// `--engine-strict` (every dependency's declared Node range must hold on this Node), and used from
// TypeScript through both entry points with `skipLibCheck: false` under node16 and bundler
// resolution. Needs a build (`npm test` builds first) and npm's cache or registry.
import { execFile } from 'node:child_process';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../', import.meta.url));
const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as {
  version: string;
  devDependencies: Record<string, string>;
};
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');

let dir: string;
let packed: { filename: string; files: Array<{ path: string }> };
const project = () => join(dir, 'consumer');

const CONSUMER = `
import { createDemoProvider, createRunner, createSqlJsOutboxStore, createSystemClock, RUNNER_VERSION, type Runner } from 'agent-relay-runner';
import { createMemoryLogger, createRelayDevServer, type RelayDevServer } from 'agent-relay-runner/testing';

export async function main(): Promise<string> {
  const relay: RelayDevServer = await createRelayDevServer();
  const clock = createSystemClock();
  const store = createSqlJsOutboxStore({ path: '/tmp/x/outbox.sqlite', clock, locateFile: (file) => file });
  const runner: Runner = createRunner({
    name: 'consumer',
    relayUrl: relay.url,
    apiKey: relay.apiKey,
    provider: createDemoProvider({ scriptPath: '/opt/app/demo-agent.mjs' }),
    logger: createMemoryLogger(),
    store,
    clock,
  });
  runner.on('status', (status) => status.state);
  await relay.close();
  return RUNNER_VERSION;
}
`;

const tsconfig = (moduleResolution: 'node16' | 'bundler') => ({
  compilerOptions: {
    strict: true,
    noEmit: true,
    skipLibCheck: false,
    target: 'ES2022',
    lib: ['ES2022'],
    module: moduleResolution === 'node16' ? 'node16' : 'esnext',
    moduleResolution,
    types: ['node'],
  },
  files: ['consumer.ts'],
});

beforeAll(async () => {
  if (!existsSync(join(root, 'dist/index.js'))) throw new Error('no dist/: run `npm run build` first (`npm test` does)');
  dir = await mkdtemp(join(tmpdir(), 'arr-package-'));
  const { stdout } = await run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', dir], { cwd: root });
  packed = (JSON.parse(stdout) as Array<typeof packed>)[0]!;
  await run('mkdir', [project()]);
  await writeFile(join(project(), 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, type: 'module' }));
  await writeFile(join(project(), 'consumer.ts'), CONSUMER);
  await writeFile(join(project(), 'smoke.mjs'), "import { RUNNER_VERSION } from 'agent-relay-runner';\nimport 'agent-relay-runner/testing';\nconsole.log(RUNNER_VERSION);\n");
  // CommonJS hosts: Node's require(esm) (20.19+, 22.12+) loads the ESM-only package.
  await writeFile(
    join(project(), 'smoke.cjs'),
    "const { RUNNER_VERSION } = require('agent-relay-runner');\nconst { createRelayDevServer } = require('agent-relay-runner/testing');\nconsole.log(RUNNER_VERSION, typeof createRelayDevServer);\n",
  );
  await writeFile(join(project(), 'tools.mjs'), "import { relayToolsServer } from 'agent-relay-runner';\nconsole.log(JSON.stringify(relayToolsServer({})));\n");
  for (const resolution of ['node16', 'bundler'] as const) {
    await writeFile(join(project(), `tsconfig.${resolution}.json`), JSON.stringify(tsconfig(resolution)));
  }
}, 60_000);
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('the packed package', () => {
  it('ships no source maps, no sources, and the generated Codex protocol as types only', () => {
    const paths = packed.files.map((f) => f.path);
    expect(paths).toContain('dist/index.js');
    expect(paths.filter((p) => p.endsWith('.map'))).toEqual([]);
    expect(paths.filter((p) => p.startsWith('src/'))).toEqual([]);
    const protocol = paths.filter((p) => p.startsWith('dist/providers/codex/protocol/'));
    expect(protocol.length).toBeGreaterThan(100);
    expect(protocol.filter((p) => !p.endsWith('.d.ts'))).toEqual([]);
    expect(paths).toEqual(expect.arrayContaining(['provider-scripts/demo-agent.mjs', 'hooks/hooks.json', '.claude-plugin/plugin.json']));
    // The docs the README links to ship with it (the screenshots stay in the repository).
    expect(paths).toEqual(expect.arrayContaining(['docs/embedding.md', 'docs/protocol.md', 'docs/cli.md']));
    expect(paths.filter((p) => p.endsWith('.png'))).toEqual([]);
  });

  it('installs with --engine-strict, loads both entry points (import and require), and type-checks a consumer with skipLibCheck false (node16 and bundler)', async () => {
    await run(
      'npm',
      ['install', '--engine-strict', '--prefer-offline', '--no-audit', '--no-fund', join(dir, packed.filename), `@types/node@${pkg.devDependencies['@types/node']}`],
      { cwd: project() },
    );
    const { stdout } = await run(process.execPath, ['smoke.mjs'], { cwd: project() });
    expect(stdout.trim()).toBe(pkg.version);
    expect((await run(process.execPath, ['smoke.cjs'], { cwd: project() })).stdout.trim()).toBe(`${pkg.version} function`);
    // Both resolutions at once: each checks every shipped .d.ts and @types/node (about 5 s on an
    // idle machine; several times that on a loaded CI box, hence the timeout).
    const results = await Promise.all(
      ['node16', 'bundler'].map((resolution) =>
        run(process.execPath, [tsc, '-p', `tsconfig.${resolution}.json`], { cwd: project() }).then(
          () => `${resolution}: ok`,
          (error: { stdout?: string }) => `${resolution}: ${error.stdout ?? String(error)}`,
        ),
      ),
    );
    expect(results).toEqual(['node16: ok', 'bundler: ok']);

    // The relay tools' MCP server runs from the installed package, its SDK dependency resolved there.
    const spec = JSON.parse((await run(process.execPath, ['tools.mjs'], { cwd: project() })).stdout) as { command: string; args: string[]; env: Record<string, string> };
    expect(spec.args).toEqual([join(project(), 'node_modules', 'agent-relay-runner', 'dist', 'agent-tools', 'main.js')]);
    const client = new Client({ name: 'package-test', version: '0' });
    await client.connect(new StdioClientTransport({ command: spec.command, args: spec.args, env: spec.env, cwd: project() }));
    try {
      expect((await client.listTools()).tools.map((t) => t.name).sort()).toEqual(['attachments', 'owed', 'reply', 'send']);
    } finally {
      await client.close();
    }
  }, 120_000);
});
