/**
 * bench/drain: drain 5,000 queued outbox events to the reference relay, which adds 20 ms to every
 * request — batched (up to 100 rows per request) vs. one request per event, side by side.
 *
 *   node --import tsx bench/drain.ts [--events 5000] [--latency 20] [--per-event-sample 500] [--full]
 *
 * One-request-per-event at 20 ms is ~100 s for 5,000 events, so by default it is measured on a
 * sample (500 events) and extrapolated linearly to the full count; the JSON and the table say so.
 * `--full` measures it on all events instead. Writes bench/results/drain.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, platform, release, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRelayDevServer } from '../src/testing/relay-dev-server/index.js';
import { createFetchRelayHttp } from '../src/adapters/fetch-relay-http.js';
import { createRelayOutboxSend } from '../src/adapters/relay-outbox-send.js';
import { createMemoryOutboxStore } from '../src/adapters/memory-outbox-store.js';
import { createSystemClock } from '../src/adapters/system-clock.js';
import { createSilentLogger } from '../src/adapters/tslog-logger.js';
import { createOutbox } from '../src/core/outbox.js';

const args = process.argv.slice(2);
const flag = (name: string, fallback: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? Number(args[i + 1]) : fallback;
};
const EVENTS = flag('events', 5000);
const LATENCY_MS = flag('latency', 20);
const FULL = args.includes('--full');
const SAMPLE = FULL ? EVENTS : Math.min(EVENTS, flag('per-event-sample', 500));
const BATCH_ROWS = 100;
const BAR_MS = 2000;

interface Run {
  mode: string;
  batchMaxRows: number;
  eventsMeasured: number;
  requests: number;
  drainMs: number;
  eventsPerSecond: number;
  msPerRequest: number;
  /** Time for the full event count: measured, or extrapolated linearly from the sample. */
  msForAllEvents: number;
  extrapolated: boolean;
}

async function measure(mode: string, batchMaxRows: number, events: number): Promise<Run> {
  const server = await createRelayDevServer();
  try {
    const setup = createFetchRelayHttp({ clock: createSystemClock(), baseUrl: server.url, token: () => undefined, apiKey: () => server.apiKey });
    const reg = await setup.register({ name: 'bench' });
    const http = createFetchRelayHttp({ clock: createSystemClock(), baseUrl: server.url, token: () => reg.token });
    const outbox = createOutbox({
      store: createMemoryOutboxStore(),
      send: createRelayOutboxSend(http),
      clock: createSystemClock(),
      logger: createSilentLogger('error'),
      agentId: reg.agent.id,
      batchMaxRows,
    });
    for (let i = 0; i < events; i++) {
      await outbox.enqueue({
        kind: i % 2 === 0 ? 'session' : 'message',
        payload: { to: 'dashboard-user', entry: 'tool', body: `step ${i}: ran \`npm test\` in packages/core — 42 passed, 0 failed (${'x'.repeat(80)})` },
      });
    }
    server.faults.latency(LATENCY_MS);
    const before = server.stats().batchRequests;
    const start = performance.now();
    await outbox.drain();
    const drainMs = performance.now() - start;
    const stats = await outbox.stats();
    if (stats.pending !== 0 || stats.delivered !== events) throw new Error(`${mode}: drain incomplete (${JSON.stringify(stats)})`);
    if (server.listEvents().length !== events) throw new Error(`${mode}: relay holds ${server.listEvents().length} events, expected ${events}`);
    await outbox.close();
    const requests = server.stats().batchRequests - before;
    return {
      mode,
      batchMaxRows,
      eventsMeasured: events,
      requests,
      drainMs: round(drainMs),
      eventsPerSecond: round((events / drainMs) * 1000),
      msPerRequest: round(drainMs / requests),
      msForAllEvents: round((drainMs / events) * EVENTS),
      extrapolated: events !== EVENTS,
    };
  } finally {
    await server.close();
  }
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}

const batched = await measure('batched', BATCH_ROWS, EVENTS);
const perEvent = await measure('one request per event', 1, SAMPLE);
const ratio = round(perEvent.msForAllEvents / batched.msForAllEvents);

const result = {
  bench: 'drain',
  date: new Date(performance.timeOrigin + performance.now()).toISOString(),
  machine: { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, memoryGiB: round(totalmem() / 2 ** 30), os: `${platform()} ${release()}`, node: process.version },
  setup: {
    events: EVENTS,
    addedLatencyMsPerRequest: LATENCY_MS,
    store: 'memory (this bench measures the transport, not disk)',
    relay: 'reference dev server on 127.0.0.1, in-memory sql.js',
    http: 'createFetchRelayHttp (cross-fetch) → POST /v1/events/batch',
    perEventNote: perEvent.extrapolated
      ? `one-request-per-event measured on ${SAMPLE} events and extrapolated linearly to ${EVENTS}`
      : 'one-request-per-event measured on all events',
  },
  runs: [batched, perEvent],
  speedup: ratio,
  bar: { batchedMsAtMost: BAR_MS, pass: batched.msForAllEvents <= BAR_MS },
};

const here = dirname(fileURLToPath(import.meta.url));
mkdirSync(join(here, 'results'), { recursive: true });
writeFileSync(join(here, 'results', 'drain.json'), `${JSON.stringify(result, null, 2)}\n`);

const line = (r: Run) =>
  `| ${r.mode} | ${r.batchMaxRows} | ${r.eventsMeasured} | ${r.requests} | ${r.drainMs} | ${r.msForAllEvents}${r.extrapolated ? ' (extrapolated)' : ''} | ${r.eventsPerSecond} |`;
console.log(`drain ${EVENTS} events, relay adds ${LATENCY_MS} ms per request — ${result.machine.cpu}, ${result.machine.node}`);
console.log('| mode | rows/request | events measured | requests | measured ms | ms for all events | events/s |');
console.log('|---|---|---|---|---|---|---|');
console.log(line(batched));
console.log(line(perEvent));
console.log(`batched is ${ratio}x faster; bar (batched ≤ ${BAR_MS} ms): ${result.bar.pass ? 'PASS' : 'FAIL'}`);
