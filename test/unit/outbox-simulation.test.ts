import { describe, it, expect } from 'vitest';
import { createOutbox, type Outbox } from '../../src/core/outbox.js';
import type { OutboxDelivery, OutboxSendAnswer, OutboxSendResult } from '../../src/ports/outbox-send.js';
import { classifyRelayStatus } from '../../src/adapters/relay-outbox-send.js';
import { createMemoryOutboxStore } from '../../src/adapters/memory-outbox-store.js';
import { createFakeClock } from '../../src/testing/fake-clock.js';
import { createMemoryLogger } from '../../src/testing/memory-logger.js';
import { RelayUnavailableError } from '../../src/errors/index.js';
import { mulberry32 } from '../helpers/random.js';

/**
 * Deterministic simulation of the outbox against a faulty relay (SPEC §11): a seeded PRNG picks
 * enqueue bursts of look-alike events (payloads from {'ok','done'} over three kinds, in one frozen
 * millisecond, so identical events repeat), clock jumps, restarts, relay outages longer than the
 * backoff cap, expired tokens (recovered, or not at first), a small byte budget (exhaustion:
 * messages refused with OUTBOX_FULL, mirror entries and insights shed), permanent 4xx/409
 * rejections, whole batches refused (413), and per-request faults (retryable statuses with and without Retry-After, refused
 * connections, EMFILE, responses lost after the relay applied the batch, partial batches).
 *
 * The fake relay dedupes on the idempotency key as the real one does, and records every
 * application by the event's identity (its outbox seq), so a key that changes between attempts
 * shows as "applied twice" and two events sharing a key show as one of them lost.
 *
 * Invariants after every schedule: an enqueue either resolves (accepted) or is refused with
 * OUTBOX_FULL; no accepted agent message is ever dropped (each is applied once or rejected by the
 * relay); an accepted event missing at the relay is a session entry or insight the budget shed,
 * and no more of them than were shed; nothing is applied twice; the relay saw events in seq order;
 * nothing is left pending or poisoned (outages never poison); the only events the relay saw that
 * nobody enqueued are the outbox's own shed summaries.
 * A failure names its seed: `SIM_SEED=<seed> npx vitest run test/unit/outbox-simulation.test.ts`.
 */

const KINDS = ['message', 'session', 'insight'] as const;
const BODIES = ['ok', 'done'] as const;
const MAX_DELAY_MS = 20_000;

/** What the schedules exercised, summed over all of them: the test checks none is vacuous. */
const coverage = { sameKeyPayloads: 0, refusedFull: 0, shed: 0, rejected: 0, authRecovered: 0, outages: 0, longRetries: 0, restarts: 0 };

async function runSchedule(seed: number): Promise<string | undefined> {
  const rand = mulberry32(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(rand() * items.length)]!;
  const clock = createFakeClock();
  // SIM_DEBUG=1 with SIM_SEED: the outbox's debug lines and the relay's applications, on failure.
  const logger = createMemoryLogger({ level: process.env.SIM_DEBUG ? 'debug' : 'info' });
  const store = createMemoryOutboxStore();
  const seen = new Set<string>(); // keys the relay has applied (its dedupe)
  const applied: number[] = []; // every application, by the event's identity (seq), in order
  const appliedKinds = new Map<number, { kind: string; payload: unknown }>();
  const rejectedSeqs = new Set<number>();
  const rejectedKeys = new Set<string>();
  const accepted = new Map<number, string>(); // seq → kind
  let refusedFull = 0;
  let shedTotal = 0;
  const relay = { downUntil: 0, tokenValid: true };
  const smallBudget = rand() < 0.5;

  const send = async (batch: readonly OutboxDelivery[]): Promise<OutboxSendAnswer> => {
    if (clock.now() < relay.downUntil) throw new RelayUnavailableError('connect ECONNREFUSED (relay down)');
    if (!relay.tokenValid) return { whole: classifyRelayStatus(401) };
    const roll = rand();
    if (roll < 0.08) throw new RelayUnavailableError('connection refused');
    if (roll < 0.1) throw Object.assign(new Error('EMFILE: too many open files'), { code: 'EMFILE' });
    if (roll < 0.14) return { perRow: batch.map(() => classifyRelayStatus(503, Math.floor(rand() * 3000))) };
    if (roll < 0.16) {
      relay.tokenValid = false; // the token expired between requests
      return { whole: classifyRelayStatus(401) };
    }
    // The whole request refused (too large for the relay's request limit): no row is at fault.
    if (roll < 0.18 && batch.length > 1) return { whole: classifyRelayStatus(413, undefined, 'request body too large') };
    const results: OutboxSendResult[] = [];
    const stopAt = rand() < 0.2 ? Math.floor(rand() * batch.length) : batch.length;
    for (const [index, item] of batch.entries()) {
      if (index === stopAt) {
        results.push(classifyRelayStatus(rand() < 0.5 ? 500 : 429));
        break; // the relay stops at the first retryable failure
      }
      if (seen.has(item.idempotencyKey)) {
        results.push({ type: 'delivered', status: 200 }); // a duplicate: acknowledged, not applied again
      } else if (rejectedKeys.has(item.idempotencyKey) || rand() < 0.04) {
        // A permanent refusal is the same on every attempt (a lost response makes the outbox ask again).
        rejectedKeys.add(item.idempotencyKey);
        rejectedSeqs.add(item.seq);
        results.push(classifyRelayStatus(rand() < 0.5 ? 409 : 422, undefined, 'refused by the relay'));
      } else {
        seen.add(item.idempotencyKey);
        applied.push(item.seq);
        if (process.env.SIM_DEBUG) logger.debug('relay', `applied #${item.seq}`);
        appliedKinds.set(item.seq, { kind: item.kind, payload: item.payload });
        results.push({ type: 'delivered', status: 201 });
      }
    }
    if (rand() < 0.1) throw new RelayUnavailableError('response lost after apply');
    return { perRow: results };
  };

  const make = (): Outbox => {
    const outbox = createOutbox({
      store,
      send,
      clock,
      logger,
      agentId: `sim-${seed}`,
      random: rand,
      maxAttempts: 2, // outages must never poison, however many attempts they cost
      maxDelayMs: MAX_DELAY_MS,
      ...(smallBudget ? { maxBytes: 1500 + Math.floor(rand() * 4000) } : {}),
      batchMaxRows: 1 + Math.floor(rand() * 8),
      onAuthFailure: async () => {
        if (rand() < 0.3) throw new Error('token endpoint unreachable');
        if (!relay.tokenValid) coverage.authRecovered++;
        relay.tokenValid = true;
      },
    });
    outbox.on('shed', (e) => (shedTotal += e.rows));
    // A retry well past maxAttempts: the outbox kept trying rather than poisoning.
    outbox.on('retry', (e) => void (e.attempts > 2 && coverage.longRetries++));
    return outbox;
  };
  let outbox = make();
  outbox.start();
  const steps = 20 + Math.floor(rand() * 30);
  const problems: string[] = [];
  const sameMs = new Set<string>();
  for (let step = 0; step < steps; step++) {
    const action = rand();
    if (action < 0.5) {
      const burst = 1 + Math.floor(rand() * 6);
      await Promise.all(
        Array.from({ length: burst }, async () => {
          const kind = pick(KINDS);
          const payload = kind === 'insight' ? { type: 'note', data: { body: pick(BODIES) } } : { body: pick(BODIES) };
          try {
            const row = await outbox.enqueue({ kind, payload });
            const same = `${kind}:${clock.now()}:${JSON.stringify(payload)}`;
            if (sameMs.has(same)) coverage.sameKeyPayloads++; // the old key scheme would collide here
            sameMs.add(same);
            accepted.set(row.seq, kind);
          } catch (error) {
            if ((error as { code?: string }).code === 'OUTBOX_FULL' && smallBudget) refusedFull++;
            else problems.push(`enqueue failed: ${String(error)}`);
          }
        }),
      );
    } else if (action < 0.8) {
      await clock.advanceAsync(Math.floor(rand() * 5000));
    } else if (action < 0.88) {
      // An outage longer than the backoff cap: two to six times it.
      relay.downUntil = clock.now() + MAX_DELAY_MS * (2 + rand() * 4);
      coverage.outages++;
    } else if (action < 0.92) {
      relay.tokenValid = false;
    } else {
      coverage.restarts++;
      await outbox.close(); // a restart: rows stay in the store
      outbox = make();
      outbox.start();
    }
  }
  // Let it finish: the relay heals eventually because faults are random per request.
  for (let i = 0; i < 400 && (await outbox.stats()).pending > 0; i++) await clock.advanceAsync(60_000);
  const stats = await outbox.stats();
  await outbox.close();

  coverage.refusedFull += refusedFull;
  coverage.shed += shedTotal;
  coverage.rejected += rejectedSeqs.size;
  const judge = (): string | undefined => {
    if (problems.length > 0) return problems[0];
    if (stats.pending !== 0 || stats.poisoned !== 0) return `left pending=${stats.pending} poisoned=${stats.poisoned}`;
    if (new Set(applied).size !== applied.length) return 'an event was applied twice';
    for (const [seq, kind] of accepted) {
      if (applied.includes(seq) || rejectedSeqs.has(seq)) continue;
      if (kind === 'message') return `accepted agent message #${seq} was dropped`;
    }
    const missing = [...accepted.keys()].filter((seq) => !applied.includes(seq) && !rejectedSeqs.has(seq));
    if (missing.length > shedTotal) return `${missing.length} accepted events missing at the relay, only ${shedTotal} shed`;
    for (const seq of applied) {
      if (accepted.has(seq)) continue;
      const extra = appliedKinds.get(seq);
      if (extra?.kind !== 'insight' || (extra.payload as { type?: string }).type !== 'outbox_shed') return `the relay got #${seq}, which nobody enqueued`;
    }
    const firstDisorder = applied.findIndex((seq, i) => i > 0 && seq < applied[i - 1]!);
    if (firstDisorder >= 0) return `order differs at position ${firstDisorder}: ${applied.slice(Math.max(0, firstDisorder - 5), firstDisorder + 3).join(',')}`;
    if (!smallBudget && (shedTotal > 0 || refusedFull > 0)) return 'shed or refused under the default budget';
    return undefined;
  };
  const problem = judge();
  if (problem && process.env.SIM_DEBUG) console.log(logger.lines().join('\n'));
  return problem;
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
    if (process.env.SIM_COVERAGE) console.log(JSON.stringify(coverage));
    if (!only) for (const [what, count] of Object.entries(coverage)) expect(count, `schedules exercised ${what}`).toBeGreaterThan(20);
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
