import { describe, it, expect } from 'vitest';
import { createOutbox, type Outbox } from '../../src/core/outbox.js';
import type { OutboxDelivery, OutboxSendAnswer, OutboxSendResult } from '../../src/ports/outbox-send.js';
import { classifyRelayStatus } from '../../src/adapters/relay-outbox-send.js';
import { createMemoryOutboxStore } from '../../src/adapters/memory-outbox-store.js';
import { createFakeClock } from '../../src/testing/fake-clock.js';
import { createMemoryLogger } from '../../src/testing/memory-logger.js';
import { RelayUnavailableError } from '../../src/errors/index.js';

/**
 * Deterministic simulation of the outbox against a faulty relay (SPEC §11): a seeded PRNG picks
 * enqueue bursts, clock jumps, restarts and per-request faults (retryable statuses with and
 * without Retry-After, refused connections, responses lost after the relay applied the batch,
 * partial batches). Invariants after every schedule: every accepted event reached the relay
 * exactly once (by idempotency key), in enqueue order, and nothing is left pending or poisoned.
 * A failure names its seed: `SIM_SEED=<seed> npx vitest run test/unit/outbox-simulation.test.ts`.
 */

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function runSchedule(seed: number): Promise<string | undefined> {
  const rand = mulberry32(seed);
  const clock = createFakeClock();
  const logger = createMemoryLogger();
  const store = createMemoryOutboxStore();
  const applied: string[] = []; // idempotency keys in the order the relay first applied them
  const seen = new Set<string>();
  const accepted: Array<{ seq: number; key: string }> = [];

  const send = async (batch: readonly OutboxDelivery[]): Promise<OutboxSendAnswer> => {
    const roll = rand();
    if (roll < 0.1) throw new RelayUnavailableError('connection refused');
    if (roll < 0.15) return { perRow: batch.map(() => classifyRelayStatus(503, Math.floor(rand() * 3000))) };
    const results: OutboxSendResult[] = [];
    const stopAt = rand() < 0.2 ? Math.floor(rand() * batch.length) : batch.length;
    for (const [index, item] of batch.entries()) {
      if (index === stopAt) {
        results.push(classifyRelayStatus(rand() < 0.5 ? 500 : 429));
        break; // the relay stops at the first retryable failure
      }
      if (!seen.has(item.idempotencyKey)) {
        seen.add(item.idempotencyKey);
        applied.push(item.idempotencyKey);
        results.push({ type: 'delivered', status: 201 });
      } else {
        results.push({ type: 'delivered', status: 200 });
      }
    }
    if (rand() < 0.1) throw new RelayUnavailableError('response lost after apply');
    return { perRow: results };
  };

  const make = (): Outbox =>
    createOutbox({ store, send, clock, logger, agentId: `sim-${seed}`, random: rand, maxAttempts: 1000, batchMaxRows: 1 + Math.floor(rand() * 8) });
  let outbox = make();
  outbox.start();
  const steps = 20 + Math.floor(rand() * 30);
  let n = 0;
  for (let step = 0; step < steps; step++) {
    const action = rand();
    if (action < 0.5) {
      const burst = 1 + Math.floor(rand() * 5);
      await Promise.all(
        Array.from({ length: burst }, async () => {
          const row = await outbox.enqueue({ kind: 'message', payload: { n: n++ } });
          accepted.push({ seq: row.seq, key: row.idempotencyKey });
        }),
      );
    } else if (action < 0.9) {
      await clock.advanceAsync(Math.floor(rand() * 5000));
    } else {
      await outbox.close(); // a restart: rows stay in the store
      outbox = make();
      outbox.start();
    }
  }
  // Let it finish: the relay heals eventually because faults are random per request.
  for (let i = 0; i < 400 && (await outbox.stats()).pending > 0; i++) await clock.advanceAsync(60_000);
  const stats = await outbox.stats();
  await outbox.close();

  if (stats.pending !== 0 || stats.poisoned !== 0) return `left pending=${stats.pending} poisoned=${stats.poisoned}`;
  // The relay must have applied exactly the accepted events, each once, in sequence order.
  const expected = [...accepted].sort((a, b) => a.seq - b.seq).map((a) => a.key);
  if (new Set(applied).size !== applied.length) return 'an event was applied twice';
  if (applied.length !== expected.length) return `applied ${applied.length} of ${expected.length} accepted events`;
  const firstDiff = expected.findIndex((key, i) => applied[i] !== key);
  if (firstDiff >= 0) return `order differs at position ${firstDiff}`;
  return undefined;
}

async function storeOrderSchedule(seed: number): Promise<string | undefined> {
  // FIFO by sequence number: the relay must see events in the order the store numbered them.
  const rand = mulberry32(seed ^ 0x9e3779b9);
  const clock = createFakeClock();
  const store = createMemoryOutboxStore();
  const order: number[] = [];
  const seen = new Set<number>();
  const outbox = createOutbox({
    store,
    clock,
    logger: createMemoryLogger(),
    agentId: 'fifo',
    random: rand,
    maxAttempts: 1000,
    send: async (batch) => {
      if (rand() < 0.3) return { perRow: [classifyRelayStatus(503)] };
      return {
        perRow: batch.map((d) => {
          if (!seen.has(d.seq)) {
            seen.add(d.seq);
            order.push(d.seq);
          }
          return { type: 'delivered', status: 201 } as const;
        }),
      };
    },
  });
  outbox.start();
  for (let i = 0; i < 30; i++) {
    await outbox.enqueue({ kind: 'k', payload: { i } });
    if (rand() < 0.3) await clock.advanceAsync(Math.floor(rand() * 4000));
  }
  for (let i = 0; i < 200 && (await outbox.stats()).pending > 0; i++) await clock.advanceAsync(60_000);
  await outbox.close();
  const sorted = [...order].sort((a, b) => a - b);
  return JSON.stringify(order) === JSON.stringify(sorted) && order.length === 30 ? undefined : `out of order: ${order.join(',')}`;
}

describe('outbox deterministic simulation', () => {
  const only = process.env.SIM_SEED ? [Number(process.env.SIM_SEED)] : undefined;
  const seeds = only ?? Array.from({ length: 1000 }, (_, i) => i + 1);

  it(`exactly once under seeded faults and restarts (${seeds.length} schedules)`, async () => {
    const failures: string[] = [];
    for (const seed of seeds) {
      const problem = await runSchedule(seed);
      if (problem) failures.push(`seed ${seed}: ${problem} (replay: SIM_SEED=${seed})`);
      if (failures.length >= 5) break;
    }
    expect(failures).toEqual([]);
  }, 120_000);

  it(`strict FIFO by sequence number (${seeds.length} schedules)`, async () => {
    const failures: string[] = [];
    for (const seed of seeds) {
      const problem = await storeOrderSchedule(seed);
      if (problem) failures.push(`seed ${seed}: ${problem} (replay: SIM_SEED=${seed})`);
      if (failures.length >= 5) break;
    }
    expect(failures).toEqual([]);
  }, 120_000);
});
