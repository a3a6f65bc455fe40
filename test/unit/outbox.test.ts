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

  it('poisons a row whose stored payload cannot be read after maxAttempts, logs FATAL, keeps it and moves on', async () => {
    const store = createMemoryOutboxStore();
    const { outbox, clock, logger, calls } = setup(ok, { batchMaxRows: 10, maxAttempts: 3 }, store);
    const poisoned: number[] = [];
    outbox.on('poisoned', (e) => poisoned.push(e.seq));
    await enqueueN(outbox, 1);
    const [bad] = await store.append([{ kind: 'message', payloadJson: '{"n":', idempotencyKey: 'k-bad', occurredAt: 1 }]);
    await enqueueN(outbox, 2, 2);
    outbox.start();
    await settle(clock);
    expect(calls).toHaveLength(1); // the healthy row before it went; the unreadable head waits
    expect(poisoned).toEqual([]);
    await settle(clock, 10_000);
    expect(poisoned).toEqual([bad!.seq]);
    expect(calls.map((c) => c.map((d) => (d.payload as { n: number }).n))).toEqual([[1], [2, 3]]);
    expect(await outbox.stats()).toMatchObject({ pending: 0, poisoned: 1, delivered: 3 });
    const kept = await store.list({ state: 'poisoned', limit: 10 });
    expect(kept[0]).toMatchObject({ attempts: 3, payloadJson: '{"n":' });
    expect(logger.lines().some((l) => /FATAL \[outbox\] gave up on message #2 after 3 failure\(s\) of its own \(stored payload is not readable JSON/.test(l))).toBe(true);
  });

  it('an outage of an hour (5xx, 429, refused, timeouts, EMFILE, 401 with no recovery) poisons nothing; everything is delivered once after', async () => {
    const down = { until: 0 };
    const failures = [
      () => { throw new RelayUnavailableError('connect ECONNREFUSED'); },
      () => { throw new RelayHttpError(503, 'down'); },
      () => [{ status: 500 }],
      () => [{ status: 429, retryAfterMs: 1000 }],
      () => { throw Object.assign(new Error('EMFILE: too many open files'), { code: 'EMFILE' }); },
      () => { throw new RelayHttpError(401, 'who?'); },
      () => [{ status: 408 }],
    ];
    const seen = new Map<string, number>();
    let call = 0;
    const { outbox, clock } = setup((batch) => {
      if (clock.now() < down.until) return failures[call++ % failures.length]!();
      for (const d of batch) seen.set(d.idempotencyKey, (seen.get(d.idempotencyKey) ?? 0) + 1);
      return ok(batch);
    }, { maxAttempts: 3, maxDelayMs: 30_000 });
    const poisoned: unknown[] = [];
    outbox.on('poisoned', (e) => poisoned.push(e));
    const retries: number[] = [];
    outbox.on('retry', (e) => retries.push(e.delayMs));
    down.until = clock.now() + 3600_000;
    await enqueueN(outbox, 20);
    outbox.start();
    for (let t = 0; t < 3600_000; t += 60_000) await settle(clock, 60_000);
    expect(poisoned).toEqual([]);
    expect(retries.length).toBeGreaterThan(100); // far past maxAttempts
    expect(Math.max(...retries)).toBeLessThanOrEqual(30_000); // the cap holds
    await settle(clock, 60_000);
    expect(await outbox.stats()).toMatchObject({ pending: 0, poisoned: 0, delivered: 20 });
    expect([...seen.values()]).toEqual(Array.from({ length: 20 }, () => 1));
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

  it('a whole batch refused (413) is asked again row by row: only the row the relay refuses alone is dropped', async () => {
    const { outbox, clock, calls } = setup((batch) => {
      if (batch.length > 1 && batch.some((d) => (d.payload as { n: number }).n === 2)) throw new RelayHttpError(413, 'body too large');
      return batch.map((d) => ((d.payload as { n: number }).n === 2 ? { status: 413, message: 'too large' } : { status: 201 }));
    });
    const rejected: number[] = [];
    outbox.on('rejected', (e) => rejected.push(e.seq));
    await enqueueN(outbox, 4);
    outbox.start();
    await settle(clock);
    expect(calls.map((c) => c.map((d) => (d.payload as { n: number }).n))).toEqual([[1, 2, 3, 4], [1], [2], [3], [4]]);
    expect(rejected).toEqual([2]);
    expect(await outbox.stats()).toMatchObject({ pending: 0, delivered: 3, rejected: 1 });
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

  it('over the byte budget sheds session entries and insights oldest first, never messages, and says so once the relay is back', async () => {
    let up = false;
    const { outbox, clock, logger, store, calls } = setup((batch) => (up ? ok(batch) : batch.map(() => ({ status: 503 }))), {
      maxBytes: 2000,
    });
    const shed: Array<{ rows: number; kinds: Record<string, number> }> = [];
    outbox.on('shed', (e) => shed.push({ rows: e.rows, kinds: e.kinds }));
    outbox.start();
    for (let n = 1; n <= 30; n++) await outbox.enqueue({ kind: n % 3 === 0 ? 'message' : n % 3 === 1 ? 'session' : 'insight', payload: { n, pad: 'x'.repeat(20) } });
    expect(shed.length).toBeGreaterThan(0);
    const stored = await store.list({ state: 'pending', limit: 100 });
    // Besides the events: the outbox's own summary of what it shed, stored so it survives a restart.
    expect(stored.filter((r) => r.payloadJson.includes('"outbox_shed"'))).toHaveLength(1);
    const left = stored.filter((r) => !r.payloadJson.includes('"outbox_shed"')).map((r) => JSON.parse(r.payloadJson) as { n: number });
    // Every message is still there; what was shed is the oldest of the rest.
    expect(left.filter((p) => p.n % 3 === 0).map((p) => p.n)).toEqual([3, 6, 9, 12, 15, 18, 21, 24, 27, 30]);
    const kept = left.filter((p) => p.n % 3 !== 0).map((p) => p.n);
    const shedRows = shed.reduce((sum, e) => sum + e.rows, 0);
    expect(kept.length + shedRows).toBe(20);
    expect(Math.min(...kept)).toBeGreaterThan(Math.max(...[1, 2, 4, 5, 7, 8, 10, 11, 13, 14, 16, 17, 19, 20, 22, 23, 25, 26, 28, 29].filter((n) => !kept.includes(n))));
    expect((await outbox.stats()).shed).toBe(shedRows);
    expect(logger.lines().some((l) => /WARN \[outbox\] byte budget of 2000 bytes reached: shed/.test(l))).toBe(true);

    up = true;
    const whileUp = calls.length; // the summary row is stored at once, so it was also tried (and refused) during the outage
    await settle(clock, 120_000);
    const summaries = calls.slice(whileUp).flat().filter((d) => d.kind === 'insight' && (d.payload as { type: string }).type === 'outbox_shed');
    expect(summaries).toHaveLength(1);
    expect((summaries[0]!.payload as { data: { rows: number; summary: string } }).data).toMatchObject({ rows: shedRows });
    expect((summaries[0]!.payload as { data: { summary: string } }).data.summary).toMatch(/^outbox byte budget spent during an outage: shed \d+ session, \d+ insight/);
    expect(await outbox.stats()).toMatchObject({ pending: 0 });
  });

  it('the shed summary survives a restart, and shedding after it adds to the same summary', async () => {
    let up = false;
    const respond: Responder = (batch) => (up ? ok(batch) : batch.map(() => ({ status: 503 })));
    const first = setup(respond, { maxBytes: 2000 });
    let shedRows = 0;
    first.outbox.on('shed', (e) => (shedRows += e.rows));
    first.outbox.start();
    for (let n = 1; n <= 30; n++) await first.outbox.enqueue({ kind: n % 4 ? 'session' : 'message', payload: { n, pad: 'x'.repeat(20) } });
    const before = shedRows;
    expect(before).toBeGreaterThan(0);
    await first.outbox.close(); // the runner restarts during the outage

    const second = setup(respond, { maxBytes: 2000 }, first.store);
    second.outbox.on('shed', (e) => (shedRows += e.rows));
    second.outbox.start();
    for (let n = 31; n <= 40; n++) await second.outbox.enqueue({ kind: 'session', payload: { n, pad: 'x'.repeat(20) } });
    expect(shedRows).toBeGreaterThan(before); // shed again after the restart
    up = true;
    const whileUp = second.calls.length;
    await settle(second.clock, 120_000);
    const summaries = second.calls.slice(whileUp).flat().filter((d) => d.kind === 'insight' && (d.payload as { type: string }).type === 'outbox_shed');
    expect(summaries).toHaveLength(1);
    expect((summaries[0]!.payload as { data: { rows: number } }).data.rows).toBe(shedRows);
    expect(await second.outbox.stats()).toMatchObject({ pending: 0 });
  });

  it('when messages fill the budget, enqueue refuses at once with OUTBOX_FULL and keeps every stored row', async () => {
    const { outbox, store } = setup(ok, { maxBytes: 1000 });
    let accepted = 0;
    let refusal: unknown;
    for (let n = 1; n <= 50 && !refusal; n++) {
      await outbox.enqueue({ kind: 'message', payload: { n, pad: 'x'.repeat(40) } }).then(() => accepted++, (e: unknown) => (refusal = e));
    }
    expect(refusal).toMatchObject({ code: 'OUTBOX_FULL', data: { kind: 'message', maxBytes: 1000 } });
    expect((refusal as Error).message).toMatch(/outbox is full: its byte budget of 1000 bytes is spent/);
    const stored = await store.list({ state: 'pending', limit: 100 });
    expect(stored).toHaveLength(accepted);
    expect(stored.map((r) => (JSON.parse(r.payloadJson) as { n: number }).n)).toEqual(Array.from({ length: accepted }, (_, i) => i + 1));
    // A sheddable event finds nothing to shed either: refused too, nothing harmed.
    await expect(outbox.enqueue({ kind: 'session', payload: { pad: 'y'.repeat(40) } })).rejects.toMatchObject({ code: 'OUTBOX_FULL' });
    expect(await store.list({ state: 'pending', limit: 100 })).toEqual(stored);
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
    expect(row.idempotencyKey).toMatch(/^agent-1:[0-9a-f]{32}:1$/);
  });

  it('gives identical events in the same millisecond distinct keys', async () => {
    const { outbox } = setup(ok);
    const a = await outbox.enqueue({ kind: 'message', payload: { body: 'ok' } });
    const b = await outbox.enqueue({ kind: 'message', payload: { body: 'ok' } });
    expect(a.idempotencyKey).not.toBe(b.idempotencyKey);
  });

  it('gives A, B, A in the same millisecond three keys, and 100 concurrent repeats 100 keys, unique across outboxes', async () => {
    const store = createMemoryOutboxStore();
    const { outbox } = setup(ok, {}, store);
    const a1 = await outbox.enqueue({ kind: 'message', payload: { body: 'A' } });
    await outbox.enqueue({ kind: 'message', payload: { body: 'B' } });
    const a2 = await outbox.enqueue({ kind: 'message', payload: { body: 'A' } });
    expect(a2.idempotencyKey).not.toBe(a1.idempotencyKey);
    await Promise.all(Array.from({ length: 100 }, (_, i) => outbox.enqueue({ kind: 'message', payload: { body: ['ok', 'done', 'ok', 'ok'][i % 4] } })));
    // A second outbox on the same store (a restart in the same millisecond) never reuses a key.
    const again = setup(ok, {}, store);
    expect(again.clock.now()).toBe(outbox === again.outbox ? -1 : a1.occurredAt); // the same millisecond
    for (const body of ['A', 'B', 'A']) await again.outbox.enqueue({ kind: 'message', payload: { body } });
    const keys = (await store.list({ state: 'pending', limit: 1000 })).map((r) => r.idempotencyKey);
    expect(keys).toHaveLength(106);
    expect(new Set(keys).size).toBe(106);
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
    const small = setup(ok, { maxBytes: 1000 }, store);
    await expect(small.outbox.enqueue({ kind: 'message', payload: { body: 'x'.repeat(1000) } })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringMatching(/takes 1\d{3} bytes, more than the whole outbox budget of 1000 bytes/) as unknown,
    });
    await outbox.close();
    const closed = await outbox.enqueue({ kind: 'message', payload: {} }).catch((e: unknown) => e);
    expect((closed as { code: string }).code).toBe('CLOSED');
    await expect(outbox.drain()).rejects.toMatchObject({ code: 'CLOSED' });
    expect(await store.list({ state: 'pending', limit: 10 })).toEqual(before);
  });

  it('rejects nonsense policy values at construction', () => {
    expect(() => setup(ok, { maxAttempts: 0 })).toThrow(/maxAttempts must be a positive number/);
    expect(() => setup(ok, { maxBytes: Number.NaN })).toThrow(/maxBytes/);
    expect(() => setup(ok, { instanceId: 'a:b' })).toThrow(/instanceId/);
  });

  describe('latency: the disk commit is not on the sending path (issue 11, round trip)', () => {
    /** A memory store whose appends and removals take effect at once but commit only when released. */
    function slowDiskStore() {
      const inner = createMemoryOutboxStore();
      const commits: Array<() => void> = [];
      const held = <T>(work: Promise<T>) => new Promise<T>((resolve, reject) => commits.push(() => work.then(resolve, reject)));
      const store: OutboxStore = { ...inner, append: (rows) => held(inner.append(rows)), remove: (seqs) => held(inner.remove(seqs)) };
      return { store, commitAll: () => commits.splice(0).forEach((c) => c()), pendingCommits: () => commits.length };
    }

    it('hands a new row to the carrier before its commit completes; the caller is answered only after the commit', async () => {
      const disk = slowDiskStore();
      const { outbox, clock, calls } = setup(ok, {}, disk.store);
      outbox.start();
      let acknowledged = false;
      const queued = outbox.enqueue({ kind: 'message', payload: { n: 1 } }).then(() => (acknowledged = true));
      await settle(clock);
      expect(payloads(calls)).toEqual([1]);
      expect(acknowledged).toBe(false);
      disk.commitAll();
      await queued;
      await settle(clock);
      disk.commitAll();
      await settle(clock);
      expect((await outbox.stats()).pending).toBe(0);
    });

    it('sends the next batch without waiting for the removal of the last one to commit', async () => {
      const disk = slowDiskStore();
      let release!: () => void;
      const firstAnswered = new Promise<void>((r) => (release = r));
      const { outbox, clock, calls } = setup(async (batch, call) => {
        if (call === 1) await firstAnswered;
        return ok(batch);
      }, {}, disk.store);
      outbox.start();
      const one = outbox.enqueue({ kind: 'message', payload: { n: 1 } });
      await settle(clock);
      disk.commitAll();
      await one;
      const two = outbox.enqueue({ kind: 'message', payload: { n: 2 } });
      await settle(clock);
      release();
      await settle(clock);
      // Row 1's removal and row 2's append are still uncommitted, yet row 2 went out.
      expect(payloads(calls)).toEqual([1, 2]);
      expect(disk.pendingCommits()).toBeGreaterThanOrEqual(2);
      disk.commitAll();
      await two;
      await settle(clock);
      disk.commitAll();
      await outbox.close();
    });
  });
});

