/**
 * Round trip through the real, pinned OpenCode CLI (`opencode acp`), run with
 * `node --import tsx bench/provider-opencode.ts` (installs the CLIs first via e2e/install.sh).
 *
 * relay send → runner delivers (`session/prompt`) → OpenCode (fake OpenAI chat completions on
 * loopback, answering at once) → prompt answered → runner mirrors the reply → reply stored on the
 * relay. Split into the runner's share (relay → prompt written, and turn end → relay) and the
 * CLI's share (prompt written → turn end). One cold turn (first of the session: the title call
 * too) and N warm turns.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createRunner } from '../src/create-runner.js';
import { createOpenCodeProvider } from '../src/providers/opencode/provider.js';
import { createFakeOpenAIServer } from '../src/testing/fake-openai-server.js';
import { createRelayDevServer } from '../src/testing/relay-dev-server/index.js';
import { createMemoryLogger } from '../src/testing/memory-logger.js';

const WARM = Number(process.env.BENCH_TURNS ?? 10);
const root = new URL('..', import.meta.url).pathname;
execFileSync('bash', [join(root, 'e2e/install.sh')], { stdio: ['ignore', 'ignore', 'inherit'] });
const opencode = join(root, 'e2e/node_modules/.bin/opencode');

const dir = await mkdtemp(join(tmpdir(), 'arr-bench-opencode-'));
await mkdir(join(dir, 'work'));
const model = await createFakeOpenAIServer((call) => ({ output: [{ type: 'text', text: call.toolNames.length === 0 ? 'A title' : 'pong' }] }));
const relay = await createRelayDevServer();
const runner = createRunner({
  name: 'bench-opencode',
  relayUrl: relay.url,
  apiKey: relay.apiKey,
  provider: createOpenCodeProvider({
    command: opencode,
    stateDir: join(dir, 'state'),
    modelProvider: { id: 'fake', baseUrl: model.baseUrl, models: ['fake-model'], apiKeyEnv: 'FAKE_KEY' },
    env: { FAKE_KEY: 'sk-bench-dummy', OPENCODE_DISABLE_MODELS_FETCH: '1' },
  }),
  cwd: join(dir, 'work'),
  dataDir: join(dir, 'data'),
  logger: createMemoryLogger({ level: 'info' }),
  env: { PATH: process.env.PATH ?? '', HOME: dir },
  outbox: { baseDelayMs: 10, maxDelayMs: 100, pollIntervalMs: 20 },
});

const injectedAt = new Map<string, number>();
const mirroredAt = new Map<string, number>();
runner.on('delivery', (d) => {
  if (d.state === 'injected') injectedAt.set(d.messageId, performance.now());
});
runner.on('mirror', (m) => {
  if (m.entry === 'reply' && m.replyTo) mirroredAt.set(m.replyTo, performance.now());
});

interface Sample { total: number; toPrompt: number; cli: number; toRelay: number }
const samples: Sample[] = [];
try {
  await runner.start();
  for (let i = 0; i <= WARM; i++) {
    const t0 = performance.now();
    const sent = relay.sendToAgent(runner.agentId!, { from: 'bench', body: `ping ${i}` });
    let t3 = 0;
    for (;;) {
      if (relay.listMessages().some((m) => m.kind === 'session' && m.entry === 'reply' && m.replyTo === sent.id)) {
        t3 = performance.now();
        break;
      }
      if (performance.now() - t0 > 90_000) throw new Error(`no reply for turn ${i}`);
      await new Promise((r) => setTimeout(r, 2));
    }
    const t1 = injectedAt.get(sent.id) ?? t0;
    const t2 = mirroredAt.get(sent.id) ?? t3;
    samples.push({ total: t3 - t0, toPrompt: t1 - t0, cli: t2 - t1, toRelay: t3 - t2 });
    while (runner.status.state !== 'idle') await new Promise((r) => setTimeout(r, 5));
  }
} finally {
  await runner.stop();
  await model.close();
  await relay.close();
  await rm(dir, { recursive: true, force: true });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
const warm = samples.slice(1);
const round = (x: number) => Math.round(x * 10) / 10;
const summary = (pick: (s: Sample) => number) => ({ cold: round(pick(samples[0]!)), warmMedian: round(median(warm.map(pick))) });
const result = {
  bench: 'provider-opencode',
  at: new Date().toISOString(),
  machine: { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, node: process.version },
  opencodeVersion: runner.status.providerVersion,
  warmTurns: warm.length,
  ms: {
    total: summary((s) => s.total),
    runnerRelayToPrompt: summary((s) => s.toPrompt),
    cliPromptToTurnEnd: summary((s) => s.cli),
    runnerTurnEndToRelay: summary((s) => s.toRelay),
  },
};
await mkdir(join(root, 'bench/results'), { recursive: true });
await writeFile(join(root, 'bench/results/provider-opencode.json'), `${JSON.stringify(result, null, 2)}\n`);
console.log(JSON.stringify(result, null, 2));
