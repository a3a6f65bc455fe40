import { describe, it, expect } from 'vitest';
import { createOutbox, backoffDelay, type Outbox, type OutboxOptions } from '../../src/core/outbox.js';
import type { OutboxDelivery, OutboxSend } from '../../src/ports/outbox-send.js';
import { classifyRelayFailure, classifyRelayStatus } from '../../src/adapters/relay-outbox-send.js';
import { createMemoryOutboxStore } from '../../src/adapters/memory-outbox-store.js';
import { createFakeClock, type FakeClock } from '../../src/testing/fake-clock.js';
import { createMemoryLogger } from '../../src/testing/memory-logger.js';
import { RelayHttpError, RelayUnavailableError, isRunnerError } from '../../src/errors/index.js';
import type { OutboxStore } from '../../src/ports/outbox-store.js';

/** What a scripted relay answers for one row, in the relay's own terms (the carrier classifies it). */
interface RelayAnswer {
  status: number;
  retryAfterMs?: number;
  message?: string;
}
type Responder = (batch: readonly OutboxDelivery[], call: number) => readonly RelayAnswer[] | Promise<readonly RelayAnswer[]>;

/**
 * A carrier over a scripted relay, classifying like the real one: per-row statuses, and a thrown
 * `RelayHttpError` for the whole request. Other throws reach the outbox as they are.
 */
const relayStyle =
  (respond: (batch: readonly OutboxDelivery[]) => readonly RelayAnswer[] | Promise<readonly RelayAnswer[]>): OutboxSend =>
  async (batch) => {
    try {
      return { perRow: (await respond(batch)).map((r) => classifyRelayStatus(r.status, r.retryAfterMs, r.message)) };
    } catch (error) {
      if (error instanceof RelayHttpError) return { whole: classifyRelayFailure(error) };
      throw error;
    }
  };

function setup(respond: Responder, overrides: Partial<OutboxOptions> = {}, store: OutboxStore = createMemoryOutboxStore()) {
  const clock = createFakeClock();
  const logger = createMemoryLogger();
  const calls: OutboxDelivery[][] = [];
  const send = relayStyle((batch) => {
    calls.push([...batch]);
    return respond(batch, calls.length);
  });
  const outbox = createOutbox({ store, send, clock, logger, agentId: 'agent-1', random: () => 0, ...overrides });
  return { clock, logger, calls, outbox, store };
}

const ok = (batch: readonly OutboxDelivery[]) => batch.map(() => ({ status: 201 }));
const payloads = (calls: OutboxDelivery[][]) => calls.flat().map((d) => (d.payload as { n: number }).n);

async function enqueueN(outbox: Outbox, n: number, start = 1) {
  for (let i = start; i < start + n; i++) await outbox.enqueue({ kind: 'message', payload: { n: i } });
}

async function settle(clock: FakeClock, ms = 0) {
  await clock.advanceAsync(ms);
}

describe('outbox dispatcher', () => {
  it('delivers in FIFO order and never lets a later row overtake a failing head', async () => {
    let failuresLeft = 2;
    const { outbox, clock, calls } = setup((batch) => {
      if ((batch[0]?.payload as { n: number }).n === 1 && failuresLeft-- > 0) return [{ status: 503 }];
      return ok(batch);
    }, { batchMaxRows: 2 });
    await enqueueN(outbox, 5);
    outbox.start();
    await settle(clock);
    // Two failures of the head: nothing else may have been sent yet.
    expect(calls.every((c) => (c[0]?.payload as { n: number }).n === 1)).toBe(true);
    await settle(clock, 60_000);
    const delivered: number[] = [];
    for (const c of calls.slice(2)) delivered.push(...c.map((d) => (d.payload as { n: number }).n));
    expect(delivered).toEqual([1, 2, 3, 4, 5]);
    expect((await outbox.stats()).pending).toBe(0);
  });

  it('backs off exponentially with jitter, never below half the step, capped', () => {
    const policy = { baseDelayMs: 1000, maxDelayMs: 60_000 };
    for (let attempts = 1; attempts <= 12; attempts++) {
      const step = Math.min(60_000, 1000 * 2 ** (attempts - 1));
      expect(backoffDelay(attempts, policy, 0)).toBe(step / 2);
      expect(backoffDelay(attempts, policy, 0.999999)).toBeLessThanOrEqual(step);
      expect(backoffDelay(attempts, policy, 0.999999)).toBeGreaterThan(step * 0.99);
      const mid = backoffDelay(attempts, policy, 0.5);
      expect(mid).toBeGreaterThanOrEqual(step / 2);
      expect(mid).toBeLessThanOrEqual(step);
    }
    expect(backoffDelay(40, policy, 1)).toBe(60_000);
  });

  it('schedules retries with the backoff delays, using the jitter source', async () => {
    let r = 0;
    const { outbox, clock } = setup(() => [{ status: 500 }], { random: () => [0, 1, 0.5][r++ % 3] ?? 0, maxAttempts: 20 });
    const delays: number[] = [];
    outbox.on('retry', (e) => delays.push(e.delayMs));
    await enqueueN(outbox, 1);
    outbox.start();
    await settle(clock, 10 * 60_000);
    expect(delays.slice(0, 6)).toEqual([500, 2000, 3000, 4000, 16000, 24000]);
    expect(Math.max(...delays)).toBeLessThanOrEqual(60_000);
  });

  it('honours Retry-After on 429 and 503 but not on other statuses', async () => {
    const script: RelayAnswer[] = [
      { status: 429, retryAfterMs: 7000 },
      { status: 503, retryAfterMs: 90_000 },
      { status: 500, retryAfterMs: 50_000 },
      { status: 201 },
    ];
    const { outbox, clock } = setup((_b, call) => [script[call - 1] ?? { status: 201 }]);
    const delays: number[] = [];
    outbox.on('retry', (e) => delays.push(e.delayMs));
    await enqueueN(outbox, 1);
    outbox.start();
    await settle(clock, 3600_000);
    expect(delays).toEqual([7000, 90_000, 2000]);
    expect((await outbox.stats()).delivered).toBe(1);
  });

  it('poisons the head after maxAttempts, logs FATAL, keeps it inspectable and moves on', async () => {
    const { outbox, clock, logger, store, calls } = setup((batch) =>
      batch.map((d) => ((d.payload as { n: number }).n === 1 ? { status: 500, message: 'boom' } : { status: 201 })),
    { maxAttempts: 3, batchMaxRows: 1 });
    const poisoned: number[] = [];
    outbox.on('poisoned', (e) => poisoned.push(e.seq));
    await enqueueN(outbox, 3);
    outbox.start();
    await settle(clock, 10 * 60_000);
    expect(poisoned).toHaveLength(1);
    expect(payloads(calls)).toEqual([1, 1, 1, 2, 3]);
    const stats = await outbox.stats();
    expect(stats).toMatchObject({ pending: 0, poisoned: 1, delivered: 2 });
    const kept = await store.list({ state: 'poisoned', limit: 10 });
    expect(kept).toHaveLength(1);
    expect(kept[0]).toMatchObject({ attempts: 3, lastError: 'boom' });
    expect(logger.lines().some((l) => /FATAL \[outbox\] gave up on message #1 after 3 attempts/.test(l))).toBe(true);
  });

  it('acknowledges a 409 (and other permanent 4xx) without retrying', async () => {
    const { outbox, clock, calls, logger } = setup((batch) =>
      batch.map((d) => {
        const n = (d.payload as { n: number }).n;
        return n === 2 ? { status: 409, message: 'duplicate' } : n === 3 ? { status: 422, message: 'bad' } : { status: 201 };
      }),
    );
    const rejected: number[] = [];
    outbox.on('rejected', (e) => rejected.push(e.status));
    await enqueueN(outbox, 4);
    outbox.start();
    await settle(clock, 60_000);
    expect(rejected).toEqual([409, 422]);
    expect(calls).toHaveLength(1);
    expect(await outbox.stats()).toMatchObject({ pending: 0, poisoned: 0, delivered: 2, rejected: 2, retries: 0 });
    expect(logger.lines().some((l) => l.includes('rejected message #2 permanently (409)'))).toBe(true);
  });

  it('on 401 runs the recovery hook once, then retries at once', async () => {
    let recoveries = 0;
    let token = 'old';
    const { outbox, clock, calls } = setup(
      (batch) => batch.map(() => ({ status: token === 'old' ? 401 : 201 })),
      {
        onAuthFailure: async () => {
          recoveries++;
          token = 'new';
        },
      },
    );
    await enqueueN(outbox, 2);
    outbox.start();
    await settle(clock); // no time passes: the retry after recovery is immediate
    expect(recoveries).toBe(1);
    expect(calls).toHaveLength(2);
    expect((await outbox.stats()).delivered).toBe(2);
  });

  it('backs off when the relay keeps refusing a fresh token', async () => {
    let recoveries = 0;
    const { outbox, clock, calls } = setup(() => [{ status: 403 }], {
      onAuthFailure: async () => {
        recoveries++;
      },
      maxAttempts: 50,
    });
    await enqueueN(outbox, 1);
    outbox.start();
    await settle(clock);
    expect(calls.length).toBe(2); // first try, one immediate retry after recovery, then backoff
    expect((await outbox.stats()).nextRetryAt).toBeGreaterThan(clock.now());
    expect(recoveries).toBe(2);
  });

  it('overflow drops poisoned rows first, then the oldest, and says so', async () => {
    const { outbox, clock, logger, store } = setup(
      (batch) => batch.map((d) => ((d.payload as { n: number }).n === 1 ? { status: 500 } : { status: 503 })),
      { maxAttempts: 1, maxRows: 3, batchMaxRows: 1 },
    );
    const dropped: Array<{ poisoned: number; pending: number }> = [];
    outbox.on('dropped', (e) => dropped.push(e));
    await enqueueN(outbox, 1);
    outbox.start();
    await settle(clock); // row 1 poisoned (maxAttempts 1), row 2 would be next
    await outbox.close();
    const box2 = createOutbox({ store, send: relayStyle((b) => b.map(() => ({ status: 503 }))), clock, logger, agentId: 'a', maxRows: 3 });
    box2.on('dropped', (e) => dropped.push(e));
    await enqueueN(box2, 3, 2); // 1 poisoned + 3 pending = 4 > 3
    expect(dropped).toEqual([{ poisoned: 1, pending: 0 }]);
    await enqueueN(box2, 2, 5); // 5 pending > 3: the two oldest go
    expect(dropped.at(-1)).toEqual({ poisoned: 0, pending: 1 });
    const left = await store.list({ state: 'pending', limit: 10 });
    expect(left.map((r) => JSON.parse(r.payloadJson).n)).toEqual([4, 5, 6]);
    expect(logger.lines().filter((l) => /WARN \[outbox\] bound of 3 rows reached: dropped/.test(l))).toHaveLength(3);
  });

  it('coalesce replaces pending rows with the same key', async () => {
    const { outbox, clock, calls } = setup(ok);
    await outbox.enqueue({ kind: 'presence', payload: { n: 1 }, coalesce: true, dedupeKey: 'presence' });
    await outbox.enqueue({ kind: 'message', payload: { n: 2 } });
    await outbox.enqueue({ kind: 'presence', payload: { n: 3 }, coalesce: true, dedupeKey: 'presence' });
    await outbox.enqueue({ kind: 'presence', payload: { n: 4 }, coalesce: true, dedupeKey: 'presence' });
    expect((await outbox.stats()).pending).toBe(2);
    outbox.start();
    await settle(clock);
    expect(payloads(calls)).toEqual([2, 4]);
  });

  it('after a restart delivers pending rows at once, keeping attempt counts', async () => {
    const store = createMemoryOutboxStore();
    const first = setup(() => [{ status: 503 }], {}, store);
    await enqueueN(first.outbox, 2);
    first.outbox.start();
    await settle(first.clock);
    await first.outbox.close();
    const [head] = await store.list({ state: 'pending', limit: 1 });
    expect(head?.attempts).toBe(1);
    expect(head!.nextAttemptAt).toBeGreaterThan(first.clock.now());

    const second = setup(ok, {}, store);
    second.clock.setTime(first.clock.now()); // same moment: the old backoff has not expired
    second.outbox.start();
    await settle(second.clock);
    expect(second.calls).toHaveLength(1);
    expect(second.calls[0]!.map((d) => d.attempts)).toEqual([1, 0]);
    expect((await second.outbox.stats()).pending).toBe(0);
  });

  it('batches keep order and handle partial failure: prefix acked, rest resent in order', async () => {
    const { outbox, clock, calls } = setup((batch, call) =>
      call === 1 ? [{ status: 201 }, { status: 409 }, { status: 503 }] : ok(batch),
    );
    await enqueueN(outbox, 5);
    outbox.start();
    await settle(clock, 5000);
    expect(calls.map((c) => c.map((d) => (d.payload as { n: number }).n))).toEqual([
      [1, 2, 3, 4, 5],
      [3, 4, 5],
    ]);
    expect(calls[1]!.map((d) => d.attempts)).toEqual([1, 0, 0]);
  });

  it('splits batches by row count and by bytes', async () => {
    const { outbox, clock, calls } = setup(ok, { batchMaxRows: 3, batchMaxBytes: 60 });
    for (let i = 1; i <= 7; i++) await outbox.enqueue({ kind: 'message', payload: { n: i, pad: i === 5 ? 'x'.repeat(100) : '' } });
    outbox.start();
    await settle(clock);
    expect(calls.map((c) => c.map((d) => (d.payload as { n: number }).n))).toEqual([[1, 2, 3], [4], [5], [6, 7]]);
  });

  it('keeps idempotency key and occurredAt stable across retries', async () => {
    const { outbox, clock, calls } = setup((_b, call) => [{ status: call < 3 ? 500 : 201 }]);
    const row = await outbox.enqueue({ kind: 'session', payload: { n: 1 } });
    clock.advance(123);
    outbox.start();
    await settle(clock, 60_000);
    expect(calls).toHaveLength(3);
    expect(new Set(calls.map((c) => c[0]!.idempotencyKey))).toEqual(new Set([row.idempotencyKey]));
    expect(new Set(calls.map((c) => c[0]!.occurredAt))).toEqual(new Set([row.occurredAt]));
    expect(row.idempotencyKey).toMatch(/^agent-1:session:\d+:[0-9a-f]{16}$/);
  });

  it('gives identical events in the same millisecond distinct keys', async () => {
    const { outbox } = setup(ok);
    const a = await outbox.enqueue({ kind: 'message', payload: { body: 'ok' } });
    const b = await outbox.enqueue({ kind: 'message', payload: { body: 'ok' } });
    expect(a.idempotencyKey).not.toBe(b.idempotencyKey);
  });

  it('treats thrown network errors as retry and thrown RelayHttpError by its status', async () => {
    const errors: unknown[] = [new RelayUnavailableError('refused'), new RelayHttpError(429, 'slow down', { retryAfterMs: 4000 })];
    const { outbox, clock, calls, logger } = setup(async (batch, call) => {
      const error = errors[call - 1];
      if (error) throw error;
      return ok(batch);
    });
    const retries: Array<[number | undefined, number]> = [];
    outbox.on('retry', (e) => retries.push([e.status, e.delayMs]));
    await enqueueN(outbox, 2);
    outbox.start();
    await settle(clock, 60_000);
    expect(retries).toEqual([[undefined, 500], [429, 4000]]); // a transport failure has no status
    const retryLines = logger.lines().filter((l) => l.includes('retry in'));
    expect(retryLines[0]).not.toContain('status=');
    expect(retryLines[1]).toMatch(/\(slow down\); retry in 4000 ms status=429$/);
    expect(calls).toHaveLength(3);
    expect((await outbox.stats()).delivered).toBe(2);
  });

  it('coalesces concurrent drain requests into one pump', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const { outbox, calls } = setup(async (batch) => {
      await gate;
      return ok(batch);
    });
    await enqueueN(outbox, 3);
    const drains = [outbox.drain(), outbox.drain(), outbox.drain()];
    expect(new Set(drains).size).toBe(1);
    release();
    await Promise.all(drains);
    expect(calls).toHaveLength(1);
  });

  it('survives a listener that throws', async () => {
    const { outbox, clock, logger } = setup(ok);
    outbox.on('delivered', () => {
      throw new Error('host bug');
    });
    await enqueueN(outbox, 2);
    outbox.start();
    await settle(clock);
    expect((await outbox.stats()).delivered).toBe(2);
    expect(logger.lines().some((l) => l.includes('listener for "delivered" threw: host bug'))).toBe(true);
  });

  it('rejects bad input with a clear RunnerError and leaves stored rows alone', async () => {
    const { outbox, store } = setup(ok);
    await enqueueN(outbox, 2);
    const before = await store.list({ state: 'pending', limit: 10 });
    class Thing {}
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    const bad: Array<[unknown, RegExp]> = [
      [{ kind: 'message', payload: { f: () => 1 } }, /payload\.f is a function/],
      [{ kind: 'message', payload: { big: 10n } }, /payload\.big is a bigint/],
      [{ kind: 'message', payload: cyclic }, /circular/],
      [{ kind: 'message', payload: { x: Number.NaN } }, /NaN/],
      [{ kind: 'message', payload: { t: new Thing() } }, /payload\.t is a Thing/],
      [{ kind: 'message', payload: undefined }, /payload is undefined/],
      [{ kind: '', payload: {} }, /kind must be a non-empty string/],
      [{ kind: 'status', payload: {}, coalesce: true }, /coalesce event "status" needs a non-empty dedupeKey/],
    ];
    for (const [event, message] of bad) {
      const error = await outbox.enqueue(event as never).then(() => undefined, (e: unknown) => e);
      expect(isRunnerError(error), String(message)).toBe(true);
      expect((error as { code: string }).code).toBe('INVALID_ARGUMENT');
      expect((error as Error).message).toMatch(message);
    }
    await outbox.close();
    const closed = await outbox.enqueue({ kind: 'message', payload: {} }).catch((e: unknown) => e);
    expect((closed as { code: string }).code).toBe('CLOSED');
    await expect(outbox.drain()).rejects.toMatchObject({ code: 'CLOSED' });
    expect(await store.list({ state: 'pending', limit: 10 })).toEqual(before);
  });

  it('rejects nonsense policy values at construction', () => {
    expect(() => setup(ok, { maxAttempts: 0 })).toThrow(/maxAttempts must be a positive number/);
    expect(() => setup(ok, { maxRows: Number.NaN })).toThrow(/maxRows/);
  });
});
