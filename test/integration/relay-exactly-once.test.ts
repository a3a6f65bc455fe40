import { afterEach, describe, expect, it } from 'vitest';
import { createRelayDevServer, type RelayDevServer } from '../../src/testing/relay-dev-server/index.js';
import { createFetchRelayHttp } from '../../src/adapters/fetch-relay-http.js';
import { createRelayOutboxSend } from '../../src/adapters/relay-outbox-send.js';
import { createMemoryOutboxStore } from '../../src/adapters/memory-outbox-store.js';
import { createSystemClock } from '../../src/adapters/system-clock.js';
import { createMemoryLogger } from '../../src/testing/memory-logger.js';
import { createOutbox, type Outbox } from '../../src/core/outbox.js';
import { waitFor } from './relay-helpers.js';

let server: RelayDevServer | undefined;
let outbox: Outbox | undefined;

afterEach(async () => {
  await outbox?.close();
  await server?.close();
  outbox = undefined;
  server = undefined;
});

describe('outbox → batch route → dev server, under faults', () => {
  it('delivers every event exactly once and in order despite lost responses, a down relay and a 503 mid-batch', async () => {
    server = await createRelayDevServer();
    const srv = server;
    const setup = createFetchRelayHttp({ clock: createSystemClock(), baseUrl: srv.url, token: () => undefined, apiKey: () => srv.apiKey });
    const reg = await setup.register({ name: 'alpha' });
    const http = createFetchRelayHttp({ clock: createSystemClock(), baseUrl: srv.url, token: () => reg.token, timeoutMs: 2000 });
    const logger = createMemoryLogger({ level: 'debug' });
    outbox = createOutbox({
      store: createMemoryOutboxStore(),
      send: createRelayOutboxSend(http),
      clock: createSystemClock(),
      logger,
      agentId: reg.agent.id,
      baseDelayMs: 10,
      maxDelayMs: 80,
      maxAttempts: 10_000,
      batchMaxRows: 7,
      pollIntervalMs: 50,
    });
    const duplicatesAcked: number[] = [];
    outbox.on('delivered', (e) => {
      if (e.status === 200) duplicatesAcked.push(e.seq);
    });
    const expectedKeys: string[] = [];
    const enqueue = async (i: number) => {
      const kinds = ['message', 'session', 'task_status'] as const;
      const kind = kinds[i % 3]!;
      const payload =
        kind === 'message'
          ? { to: 'alice', body: `m${i}` }
          : kind === 'session'
            ? { body: `s${i}`, entry: 'tool' }
            : { taskId: `T${i}`, status: 'in_progress' };
      const row = await outbox!.enqueue({ kind, payload });
      expectedKeys.push(row.idempotencyKey);
    };

    // Applied-then-lost responses: the outbox cannot know these batches landed, and retries them.
    srv.faults.loseResponseAfterApply(3, { path: '/v1/events/batch' });
    for (let i = 0; i < 60; i++) await enqueue(i);
    outbox.start();
    await waitFor('the lost-response faults to be used up', () => srv.listEvents().length >= 21);

    // Down for a while, with more events queued meanwhile.
    await srv.faults.down();
    for (let i = 60; i < 120; i++) await enqueue(i);
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect((await outbox.stats()).pending).toBeGreaterThan(0);
    await srv.faults.up();

    // A retryable failure in the middle of a batch: the rest of that batch must not overtake it.
    srv.faults.failNextItems(1, 503, { skip: 3 });
    srv.faults.loseResponseAfterApply(2, { path: '/v1/events/batch' });
    for (let i = 120; i < 180; i++) await enqueue(i);

    await waitFor('outbox drained', async () => (await outbox!.stats()).pending === 0, 20_000);

    const events = srv.listEvents({ agentId: reg.agent.id });
    const keys = events.map((e) => e.idempotencyKey);
    expect(new Set(expectedKeys).size).toBe(180);
    expect(keys).toEqual(expectedKeys); // exactly once each, in enqueue order
    const counts = new Map<string, number>();
    for (const k of keys) counts.set(k, (counts.get(k) ?? 0) + 1);
    expect([...counts.values()].every((n) => n === 1)).toBe(true);

    // The faults really fired: some rows were acknowledged as duplicates of applied-but-lost batches.
    expect(duplicatesAcked.length).toBeGreaterThan(0);
    const stats = await outbox.stats();
    expect(stats).toMatchObject({ pending: 0, poisoned: 0, rejected: 0, delivered: 180 });
    expect(stats.retries).toBeGreaterThanOrEqual(5);
    expect(srv.listMessages({ from: 'alpha', kind: 'message' })).toHaveLength(60);
    expect(srv.tasks()).toHaveLength(60);
  });
});
