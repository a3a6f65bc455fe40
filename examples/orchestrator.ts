/**
 * An orchestrator running many agents in one process. Each runner owns its ports (clock, logger,
 * store, control port, timers), so they never interfere; they can share one relay connection
 * setting and one data root.
 * Run: `node --import tsx examples/orchestrator.ts`
 */
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { createRunner, createDemoProvider, type Runner } from '../src/index.js';
import { createRelayDevServer } from '../src/testing/index.js';

const relay = await createRelayDevServer();
const root = join(tmpdir(), `orchestrator-${process.pid}`);
const runners: Runner[] = ['planner', 'coder', 'reviewer'].map((name) =>
  createRunner({
    name,
    relayUrl: relay.url,
    apiKey: relay.apiKey,
    provider: createDemoProvider(),
    dataDir: join(root, name),
    logDir: join(root, 'logs'),
  }),
);
for (const runner of runners) runner.on('status', (s) => console.log(`${runner.agentId}: ${s.state}`));
await Promise.all(runners.map((r) => r.start()));

for (const runner of runners) relay.sendToAgent(runner.agentId!, { from: 'lead', body: `hello ${runner.agentId}` });
await new Promise((resolve) => setTimeout(resolve, 2000));
for (const runner of runners) console.log(runner.agentId, await runner.outboxStats());

await Promise.all(runners.map((r) => r.stop()));
await relay.close();
