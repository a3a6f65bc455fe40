/**
 * Minimal embedding: one runner, the scripted demo provider, against a relay.
 * Run: `node --import tsx examples/minimal.ts http://127.0.0.1:4000 <workspace-api-key>`
 * (or against an in-process reference relay when no URL is given).
 */
import { createRunner, createDemoProvider } from '../src/index.js';
import { createRelayDevServer } from '../src/testing/index.js';

const [relayArg, keyArg] = process.argv.slice(2);
const relay = relayArg ? undefined : await createRelayDevServer();
const runner = createRunner({
  name: 'example-agent',
  relayUrl: relayArg ?? relay!.url,
  apiKey: keyArg ?? relay!.apiKey,
  provider: createDemoProvider(),
});
runner.on('status', (status) => console.log(`status: ${status.state}`));
runner.on('mirror', (entry) => console.log(`mirror ${entry.entry}: ${entry.body}`));
await runner.start();
console.log(`agent ${runner.agentId} up; control port ${runner.controlUrl}`);

if (relay) {
  relay.sendToAgent(runner.agentId!, { from: 'alice', body: 'hello from the example' });
  await new Promise((resolve) => runner.on('mirror', (e) => e.entry === 'reply' && resolve(undefined)));
  await runner.stop();
  await relay.close();
} else {
  // A one-time link: open it in a browser within a minute to watch the agent live.
  console.log(`monitor page: ${runner.monitorLink().url}`);
  process.once('SIGINT', () => void runner.stop().then(() => process.exit(0)));
}
