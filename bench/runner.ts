/**
 * Runner start-up and memory, run with `node --expose-gc --import tsx bench/runner.ts`.
 *
 * - startup: `start()` to ready with a provider that starts instantly (SPEC §11 excludes the
 *   provider), against the reference relay on loopback; N sequential runners, median and p95.
 * - memory: RSS after GC with 0 runners and with 20 running runners in this one process; the
 *   marginal cost per extra runner is (rss20 - rss1) / 19.
 */
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir, cpus } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createRunner, type Runner } from '../src/create-runner.js';
import { createRelayDevServer } from '../src/testing/relay-dev-server/index.js';
import { silentProvider } from './silent-provider.js';

const gc = (globalThis as { gc?: () => void }).gc;
async function settledRss(): Promise<number> {
  for (let i = 0; i < 4; i++) {
    gc?.();
    await new Promise((r) => setTimeout(r, 50));
  }
  return process.memoryUsage().rss;
}

const pct = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
};

async function main() {
  if (!gc) console.warn('run with --expose-gc for stable memory numbers');
  const dir = await mkdtemp(join(tmpdir(), 'arr-bench-runner-'));
  const relay = await createRelayDevServer();
  const make = (i: number): Runner =>
    createRunner({
      name: `bench-${i}`,
      relayUrl: relay.url,
      apiKey: relay.apiKey,
      provider: silentProvider('instant'),
      cwd: dir,
      dataDir: join(dir, `r${i}`),
      logDir: join(dir, 'logs'),
      env: { PATH: process.env.PATH ?? '' },
    });

  // Warm-up: module loading and the sql.js WASM compile are once per process, not per runner.
  const warm = make(999);
  await warm.start();
  await warm.stop();

  const startupMs: number[] = [];
  for (let i = 0; i < 20; i++) {
    const runner = make(100 + i);
    const t0 = performance.now();
    await runner.start();
    startupMs.push(performance.now() - t0);
    await runner.stop();
  }

  const rss0 = await settledRss();
  const live: Runner[] = [];
  let rss1 = 0;
  for (let i = 0; i < 20; i++) {
    const runner = make(i);
    await runner.start();
    live.push(runner);
    if (i === 0) rss1 = await settledRss();
  }
  const rss20 = await settledRss();
  for (const r of live) await r.stop();
  await relay.close();
  await rm(dir, { recursive: true, force: true });

  const mb = (b: number) => Math.round((b / 1024 / 1024) * 10) / 10;
  const result = {
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version },
    startup: { runs: startupMs.length, medianMs: pct(startupMs, 50), p95Ms: pct(startupMs, 95), maxMs: Math.max(...startupMs), barMs: 150 },
    memory: {
      rssBaseMb: mb(rss0),
      rssOneRunnerMb: mb(rss1),
      rssTwentyRunnersMb: mb(rss20),
      marginalPerRunnerMb: mb((rss20 - rss1) / 19),
      barMb: 15,
    },
  };
  await mkdir(join('bench', 'results'), { recursive: true });
  await writeFile(join('bench', 'results', 'runner.json'), `${JSON.stringify(result, null, 2)}\n`);
  console.log(JSON.stringify(result, null, 2));
}

await main();
