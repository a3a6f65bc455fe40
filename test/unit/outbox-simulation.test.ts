import { describe, it, expect } from 'vitest';
import { createOutbox, type Outbox } from '../../src/core/outbox.js';
import { classifyRelayStatus } from '../../src/adapters/relay-outbox-send.js';
import { createMemoryOutboxStore } from '../../src/adapters/memory-outbox-store.js';
import { createFakeClock } from '../../src/testing/fake-clock.js';
import { createMemoryLogger } from '../../src/testing/memory-logger.js';
import { mulberry32 } from '../helpers/random.js';
import { newCoverage, runSchedule, type SimBackend } from '../helpers/outbox-sim.js';

/**
 * Deterministic simulation of the outbox against a faulty relay (SPEC §11), driven by a seeded
 * PRNG (test/helpers/outbox-sim.ts has the schedule, the fake relay and the invariants): enqueue
 * bursts of look-alike events (payloads from {'ok','done'} over three kinds, in one frozen
 * millisecond, so identical events repeat), clock jumps, restarts, relay outages longer than the
 * backoff cap, expired tokens, a small byte budget (exhaustion: messages refused with OUTBOX_FULL,
 * mirror entries and insights shed), permanent 4xx/409 rejections, whole batches refused (413),
 * and per-request faults (retryable statuses with and without Retry-After, refused connections,
 * EMFILE, responses lost after the relay applied the batch, partial batches).
 *
 * Two stores: the memory store (1,000 schedules; restarts are clean) and the sql.js store on real
 * files (200 schedules, fewer because every group commit is a real fdatasync), where a restart is
 * either clean or a kill: at a step, in the middle of an enqueue burst, or right after the relay
 * applied a batch; the next life opens what a killed process would have left on disk.
 * A failure names its seed and store: `SIM_SEED=<seed> SIM_STORE=sqljs npx vitest run test/unit/outbox-simulation.test.ts`.
 * (On the sql.js store a replay makes the same decisions, but real I/O timing can move where a
 * kill lands relative to a journal write, so a replay is close, not always identical.)
 * The invariants can fail: a group commit that writes only its first record fails the sql.js run
 * ("accepted agent message #n was dropped"), and keys derived per process at delivery fail both
 * ("applied 2 times" / "reached the relay under key ..."); both were tried by hand.
 */

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

/** Schedules per store: the sql.js store pays a real fdatasync per group commit, so it runs fewer. */
const SCHEDULES: Record<SimBackend, number> = { memory: 1000, sqljs: 200 };
/** Counters that only kills (sql.js) exercise, and how often each must happen over all schedules. */
const KILL_COVERAGE = ['killsStep', 'killsMidBurst', 'killsAfterApply', 'killsInCheckpoint', 'unackedDelivered', 'lockTakeovers'];

describe('outbox deterministic simulation', () => {
  const only = process.env.SIM_SEED ? [Number(process.env.SIM_SEED)] : undefined;
  const stores = (process.env.SIM_STORE ? [process.env.SIM_STORE] : ['memory', 'sqljs']) as SimBackend[];

  for (const backend of stores) {
    const seeds = only ?? Array.from({ length: SCHEDULES[backend] }, (_, i) => i + 1);
    const what = backend === 'memory' ? 'faults and restarts' : 'faults, restarts and kills';
    it(`exactly once under seeded ${what}, ${backend} store (${seeds.length} schedules)`, async () => {
      const coverage = newCoverage();
      const failures: string[] = [];
      for (const seed of seeds) {
        const problem = await runSchedule(seed, backend, coverage);
        if (problem) failures.push(`seed ${seed}: ${problem} (replay: SIM_SEED=${seed} SIM_STORE=${backend})`);
        if (failures.length >= 5) break;
      }
      expect(failures).toEqual([]);
      if (process.env.SIM_COVERAGE) console.log(backend, JSON.stringify(coverage));
      if (only) return;
      for (const [name, count] of Object.entries(coverage)) {
        if (name === 'killsMidSnapshot' || (backend === 'memory' && KILL_COVERAGE.includes(name)) || name === 'dedupedResends') continue;
        expect(count, `schedules exercised ${name}`).toBeGreaterThan(backend === 'memory' ? 20 : 10);
      }
      expect(coverage.dedupedResends, 'the relay recognised resent events by key').toBeGreaterThan(20);
    }, 120_000);
  }

  it(`strict FIFO by sequence number (${only?.length ?? 1000} schedules)`, async () => {
    const failures: string[] = [];
    for (const seed of only ?? Array.from({ length: 1000 }, (_, i) => i + 1)) {
      const problem = await storeOrderSchedule(seed);
      if (problem) failures.push(`seed ${seed}: ${problem} (replay: SIM_SEED=${seed})`);
      if (failures.length >= 5) break;
    }
    expect(failures).toEqual([]);
  }, 120_000);
});
