/**
 * The turn loop both real-CLI provider benches share (`provider-claude.ts`, `provider-opencode.ts`):
 * send a message, wait for the mirrored reply at the relay, split the time at the runner's marks,
 * and write the cold turn and the warm median to `bench/results/<bench>.json`.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Runner } from '../src/agent-runner.js';
import type { RelayDevServer } from '../src/testing/relay-dev-server/index.js';

/** One turn: relay send → injected (runner) → reply mirrored (CLI) → at the relay (runner). */
interface Sample { total: number; toCli: number; cli: number; toRelay: number }

/** What the result names each part (the CLIs differ: stdin and result, or prompt and turn end). */
export interface TurnPartNames { toCli: string; cli: string; toRelay: string }

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
const round = (x: number) => Math.round(x * 10) / 10;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Run one cold and `warmTurns` warm turns through a started-on-demand runner, then stop it and call
 * `cleanup`; returns (and writes) the summary.
 */
export async function measureProviderTurns(options: {
  bench: string;
  runner: Runner;
  relay: RelayDevServer;
  warmTurns: number;
  replyTimeoutMs: number;
  names: TurnPartNames;
  versionKey: string;
  cleanup: () => Promise<void>;
}): Promise<unknown> {
  const { runner, relay } = options;
  const injectedAt = new Map<string, number>();
  const mirroredAt = new Map<string, number>();
  runner.on('delivery', (d) => {
    if (d.state === 'injected') injectedAt.set(d.messageId, performance.now());
  });
  runner.on('mirror', (m) => {
    if (m.entry === 'reply' && m.replyTo) mirroredAt.set(m.replyTo, performance.now());
  });
  const samples: Sample[] = [];
  try {
    await runner.start();
    for (let i = 0; i <= options.warmTurns; i++) {
      const t0 = performance.now();
      const sent = relay.sendToAgent(runner.agentId!, { from: 'bench', body: `ping ${i}` });
      let t3 = 0;
      for (;;) {
        if (relay.listMessages().some((m) => m.kind === 'session' && m.entry === 'reply' && m.replyTo === sent.id)) {
          t3 = performance.now();
          break;
        }
        if (performance.now() - t0 > options.replyTimeoutMs) throw new Error(`no reply for turn ${i}`);
        await sleep(2);
      }
      const t1 = injectedAt.get(sent.id) ?? t0;
      const t2 = mirroredAt.get(sent.id) ?? t3;
      samples.push({ total: t3 - t0, toCli: t1 - t0, cli: t2 - t1, toRelay: t3 - t2 });
      while (runner.status.state !== 'idle') await sleep(5);
    }
  } finally {
    await runner.stop();
    await options.cleanup();
  }
  const warm = samples.slice(1);
  const summary = (pick: (s: Sample) => number) => ({ cold: round(pick(samples[0]!)), warmMedian: round(median(warm.map(pick))) });
  const result = {
    bench: options.bench,
    at: new Date().toISOString(),
    machine: { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, node: process.version },
    [options.versionKey]: runner.status.providerVersion,
    warmTurns: warm.length,
    ms: {
      total: summary((s) => s.total),
      [options.names.toCli]: summary((s) => s.toCli),
      [options.names.cli]: summary((s) => s.cli),
      [options.names.toRelay]: summary((s) => s.toRelay),
    },
  };
  const root = new URL('..', import.meta.url).pathname;
  await mkdir(join(root, 'bench/results'), { recursive: true });
  await writeFile(join(root, `bench/results/${options.bench}.json`), `${JSON.stringify(result, null, 2)}\n`);
  return result;
}
