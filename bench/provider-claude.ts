/**
 * Round trip through the real, pinned Claude Code CLI (headless), run with
 * `node --import tsx bench/provider-claude.ts` (installs the CLIs first via e2e/install.sh).
 *
 * relay send → runner delivers (stdin) → Claude Code (hooks, fake Anthropic server on loopback,
 * answering at once) → result line → runner mirrors the reply → reply stored on the relay.
 * Split into the runner's share (relay → stdin, and result → relay) and the CLI's share
 * (stdin → result line). One cold turn (first turn of the session) and N warm turns.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createRunner } from '../src/create-runner.js';
import { createClaudeCodeProvider } from '../src/providers/claude/headless.js';
import { createFakeAnthropicServer } from '../src/testing/fake-anthropic-server.js';
import { createRelayDevServer } from '../src/testing/relay-dev-server/index.js';
import { createMemoryLogger } from '../src/testing/memory-logger.js';

const WARM = Number(process.env.BENCH_TURNS ?? 10);
const root = new URL('..', import.meta.url).pathname;
execFileSync('bash', [join(root, 'e2e/install.sh')], { stdio: ['ignore', 'ignore', 'inherit'] });
const claude = join(root, 'e2e/node_modules/.bin/claude');

const dir = await mkdtemp(join(tmpdir(), 'arr-bench-claude-'));
const home = join(dir, 'home');
await mkdir(join(home, '.claude'), { recursive: true });
const model = await createFakeAnthropicServer(() => ({ blocks: [{ type: 'text', text: 'pong' }] }));
const relay = await createRelayDevServer();
const runner = createRunner({
  name: 'bench-claude',
  relayUrl: relay.url,
  apiKey: relay.apiKey,
  provider: createClaudeCodeProvider({ command: claude }),
  cwd: dir,
  dataDir: join(dir, 'data'),
  logger: createMemoryLogger({ level: 'info' }),
  env: {
    PATH: process.env.PATH ?? '',
    HOME: home,
    CLAUDE_CONFIG_DIR: join(home, '.claude'),
    ANTHROPIC_BASE_URL: model.url,
    ANTHROPIC_API_KEY: 'sk-ant-bench-dummy',
    DISABLE_TELEMETRY: '1',
    DISABLE_ERROR_REPORTING: '1',
    DISABLE_AUTOUPDATER: '1',
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
  },
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

interface Sample { total: number; toStdin: number; cli: number; toRelay: number }
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
      if (performance.now() - t0 > 60_000) throw new Error(`no reply for turn ${i}`);
      await new Promise((r) => setTimeout(r, 2));
    }
    const t1 = injectedAt.get(sent.id) ?? t0;
    const t2 = mirroredAt.get(sent.id) ?? t3;
    samples.push({ total: t3 - t0, toStdin: t1 - t0, cli: t2 - t1, toRelay: t3 - t2 });
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
  bench: 'provider-claude',
  at: new Date().toISOString(),
  machine: { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, node: process.version },
  claudeVersion: runner.status.providerVersion,
  warmTurns: warm.length,
  ms: {
    total: summary((s) => s.total),
    runnerRelayToStdin: summary((s) => s.toStdin),
    cliStdinToResult: summary((s) => s.cli),
    runnerResultToRelay: summary((s) => s.toRelay),
  },
};
await mkdir(join(root, 'bench/results'), { recursive: true });
await writeFile(join(root, 'bench/results/provider-claude.json'), `${JSON.stringify(result, null, 2)}\n`);
console.log(JSON.stringify(result, null, 2));
