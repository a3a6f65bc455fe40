/**
 * Minimal embedding: one runner, the scripted demo provider, against a relay.
 * Run: `node --import tsx examples/minimal.ts http://127.0.0.1:4000 <workspace-api-key>`
 * (or against an in-process reference relay when no URL is given).
 *
 * Bundled (esbuild, an Electron main process), the package's own files are not next to the code:
 * set `DEMO_AGENT_SCRIPT` to the shipped `provider-scripts/demo-agent.mjs` and `SQL_WASM_PATH` to
 * `sql.js/dist/sql-wasm.wasm`, copied beside the bundle (test/integration/bundle.test.ts does this).
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { createRunner, createDemoProvider, createSqlJsOutboxStore, createSystemClock, type OutboxStore } from '../src/index.js';
import { createRelayDevServer } from '../src/testing/index.js';

const [relayArg, keyArg] = process.argv.slice(2);
const { DEMO_AGENT_SCRIPT: demoScript, SQL_WASM_PATH: sqlWasm } = process.env;
const name = 'example-agent';
const clock = createSystemClock();
// With the wasm given, the host builds the store itself; a store passed in is the host's to close.
const store: OutboxStore | undefined = sqlWasm
  ? createSqlJsOutboxStore({
      path: join(homedir(), '.agent-relay', 'runners', name, 'outbox.sqlite'),
      clock,
      wasmBinary: readFileSync(sqlWasm),
    })
  : undefined;
const relay = relayArg ? undefined : await createRelayDevServer();
const runner = createRunner({
  name,
  relayUrl: relayArg ?? relay!.url,
  apiKey: keyArg ?? relay!.apiKey,
  provider: createDemoProvider(demoScript ? { scriptPath: demoScript } : {}),
  clock,
  ...(store ? { store } : {}),
});
runner.on('status', (status) => console.log(`status: ${status.state}`));
runner.on('mirror', (entry) => console.log(`mirror ${entry.entry}: ${entry.body}`));
await runner.start();
console.log(`agent ${runner.agentId} up; control port ${runner.controlUrl}`);

const shutdown = async () => {
  await runner.stop();
  await store?.close?.();
};
if (relay) {
  relay.sendToAgent(runner.agentId!, { from: 'alice', body: 'hello from the example' });
  await new Promise((resolve) => runner.on('mirror', (e) => e.entry === 'reply' && resolve(undefined)));
  await shutdown();
  await relay.close();
} else {
  // A one-time link: open it in a browser within a minute to watch the agent live.
  console.log(`monitor page: ${runner.monitorLink().url}`);
  process.once('SIGINT', () => void shutdown().then(() => process.exit(0)));
}
