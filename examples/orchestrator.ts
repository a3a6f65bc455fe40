/**
 * A small orchestrator: N agents from a config, in one process, their status on one line, and
 * Ctrl-C stopping them all within a bound, leaving no temp dir behind.
 *
 *   node --import tsx examples/orchestrator.ts [config.json]
 *
 * config.json: `{ "relayUrl"?: string, "apiKey"?: string, "agents": [{ "name": "planner" }, …] }`.
 * Without `relayUrl` an in-process reference relay is started (the demo setting), and each agent
 * gets one message from "lead". Every agent runs the scripted demo provider here; a real host
 * picks `createClaudeCodeProvider()` / `createCodexProvider()` per agent the same way.
 * `--once` stops everything after each agent answered (used by the test).
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clearLine, cursorTo } from 'node:readline';
import { createDemoProvider, createRunner, type Runner } from '../src/index.js';
import { createRelayDevServer, type RelayDevServer } from '../src/testing/index.js';

interface Config {
  relayUrl?: string;
  apiKey?: string;
  agents: Array<{ name: string }>;
}

/** How long a stop may wait on the relay before what is left stays stored for the next start. */
const STOP_BOUND_MS = 5_000;

const args = process.argv.slice(2);
const once = args.includes('--once');
const configPath = args.find((a) => !a.startsWith('--'));
const config: Config = configPath
  ? (JSON.parse(await readFile(configPath, 'utf8')) as Config)
  : { agents: [{ name: 'planner' }, { name: 'coder' }, { name: 'reviewer' }] };

const root = await mkdtemp(join(tmpdir(), 'orchestrator-'));
let relay: RelayDevServer | undefined;
if (!config.relayUrl) relay = await createRelayDevServer();
const relayUrl = config.relayUrl ?? relay!.url;
const apiKey = config.apiKey ?? relay?.apiKey ?? process.env.AGENT_RELAY_API_KEY;

const runners: Runner[] = config.agents.map(({ name }) =>
  createRunner({
    name,
    relayUrl,
    ...(apiKey ? { apiKey } : {}),
    provider: createDemoProvider(),
    dataDir: join(root, name),
    logDir: join(root, 'logs'),
  }),
);

let lastLine = '';
/** One line for all agents: `planner idle · coder busy · reviewer idle`, redrawn on a terminal. */
function showStatus(): void {
  const line = runners.map((r) => `${r.name} ${r.status.state}${r.status.openSubagents > 0 ? `(+${r.status.openSubagents})` : ''}`).join(' · ');
  if (line === lastLine) return;
  lastLine = line;
  if (process.stdout.isTTY) {
    cursorTo(process.stdout, 0);
    clearLine(process.stdout, 0);
    process.stdout.write(line);
  } else {
    process.stdout.write(`${line}\n`);
  }
}
for (const runner of runners) {
  runner.on('status', showStatus);
  runner.on('outbox', (event) => process.stderr.write(`\n${runner.name}: outbox ${event.type}\n`));
}

let stopping: Promise<void> | undefined;
const aborter = new AbortController();
/** Stop every agent at once, each bounded; a second Ctrl-C stops waiting on the relay at once. */
function stopAll(): Promise<void> {
  stopping ??= (async () => {
    await Promise.all(runners.map((r) => r.stop({ timeoutMs: STOP_BOUND_MS, signal: aborter.signal })));
    await relay?.close();
    await rm(root, { recursive: true, force: true });
    if (process.stdout.isTTY) process.stdout.write('\n');
    console.log('all agents stopped');
  })();
  return stopping;
}
process.on('SIGINT', () => {
  if (stopping) aborter.abort();
  void stopAll();
});
process.on('SIGTERM', () => void stopAll());

try {
  await Promise.all(runners.map((r) => r.start()));
} catch (error) {
  console.error(`could not start every agent: ${error instanceof Error ? error.message : String(error)}`);
  await stopAll();
  process.exit(1);
}
console.log(`${runners.length} agents ready on ${relayUrl}; data in ${root}; Ctrl-C stops them all`);

if (relay) {
  const answered = runners.map((runner) => {
    const sent = relay!.sendToAgent(runner.agentId!, { from: 'lead', body: `hello ${runner.name}` });
    return new Promise<void>((resolve) => {
      const onMirror = (event: { entry: string; replyTo?: string }) => {
        if (event.entry !== 'reply' || event.replyTo !== sent.id) return;
        runner.off('mirror', onMirror);
        resolve();
      };
      runner.on('mirror', onMirror);
    });
  });
  await Promise.all(answered);
  if (process.stdout.isTTY) process.stdout.write('\n');
  console.log('every agent answered lead');
  if (once) await stopAll();
}
