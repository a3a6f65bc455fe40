// A host that bundles its main process (esbuild, platform node) gets no package directory next to
// its code: the version must be inlined, and the sql.js wasm and the demo agent script are given
// explicitly. This bundles examples/minimal.ts, puts the two files where the package's defaults
// cannot find them, and runs the demo round trip through the bundle against a reference relay.
import { spawn } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRelayDevServer, type RelayDevServer } from '../../src/testing/index.js';
import { waitFor } from '../helpers/rig.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { version: string };
/**
 * What an ESM bundle for Node needs from the host (docs/embedding.md, bundler notes): `require` for
 * CommonJS dependencies that load Node built-ins, and `__dirname` for sql.js's Emscripten loader.
 */
const BANNER = [
  "import { createRequire as __arrCreateRequire } from 'node:module';",
  "import { fileURLToPath as __arrFileURLToPath } from 'node:url';",
  'const require = __arrCreateRequire(import.meta.url);',
  'const __filename = __arrFileURLToPath(import.meta.url);',
  "const __dirname = __arrFileURLToPath(new URL('.', import.meta.url));",
].join('\n');

let dir: string;
let relay: RelayDevServer;
const bundle = () => join(dir, 'app', 'main.mjs');
const assets = () => join(dir, 'assets');

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'arr-bundle-'));
  await build({
    entryPoints: [join(root, 'examples/minimal.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    outfile: bundle(),
    banner: { js: BANNER },
    logLevel: 'silent',
  });
  // Not beside the bundle and not in a package layout: only the explicit options can find them.
  await mkdir(assets());
  await copyFile(createRequire(import.meta.url).resolve('sql.js/dist/sql-wasm.wasm'), join(assets(), 'sqlite.wasm'));
  await copyFile(join(root, 'provider-scripts/demo-agent.mjs'), join(assets(), 'demo-agent.mjs'));
  relay = await createRelayDevServer();
});
afterAll(async () => {
  await relay?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Run the bundle against the relay; resolves its output and exit code once it exits. */
function runBundle(env: Record<string, string>) {
  const child = spawn(process.execPath, [bundle(), relay.url, relay.apiKey], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? '', HOME: join(dir, 'home'), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, exited, output: () => ({ stdout, stderr }) };
}

describe('esbuild bundle of examples/minimal.ts', () => {
  it('runs the demo round trip with the wasm and the demo script given explicitly, reporting the real version', async () => {
    const run = runBundle({ SQL_WASM_PATH: join(assets(), 'sqlite.wasm'), DEMO_AGENT_SCRIPT: join(assets(), 'demo-agent.mjs') });
    try {
      await waitFor(() => /agent (\S+) up/.test(run.output().stdout), 'the bundled runner to start', 20_000);
      const agentId = /agent (\S+) up/.exec(run.output().stdout)![1]!;
      const info = JSON.parse(await readFile(join(dir, 'home/.agent-relay/runners/example-agent/runner.json'), 'utf8')) as { version: string };
      expect(info.version).toBe(pkg.version);
      relay.sendToAgent(agentId, { from: 'alice', body: 'hello through the bundle' });
      await waitFor(() => relay.listMessages().some((m) => m.body === 'Echo: hello through the bundle'), 'the reply on the relay', 20_000);
    } finally {
      run.child.kill('SIGINT');
    }
    expect(await run.exited).toBe(0);
    // Newer Nodes print deprecation warnings for dependencies' use of built-ins once that code is
    // outside node_modules, as bundled code is (DEP0040 punycode from cross-fetch's whatwg-url, DEP0169
    // url.parse on Node 26). Warnings, not failures: anything else on stderr is.
    const stderr = run.output().stderr.split('\n').filter((line) => !/\[DEP\d+\] DeprecationWarning|--trace-deprecation/.test(line));
    expect(stderr.join('\n').trim()).toBe('');
  });

  it('without the demo script path, start fails with an error naming the scriptPath option', async () => {
    const run = runBundle({ SQL_WASM_PATH: join(assets(), 'sqlite.wasm') });
    expect(await run.exited).toBe(1);
    expect(run.output().stderr).toMatch(/demo agent script not found at .*scriptPath option of createDemoProvider/);
  });
});
