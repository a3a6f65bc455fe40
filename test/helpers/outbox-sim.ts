// The outbox's deterministic simulation (SPEC §11), on either store: a seeded PRNG drives enqueue
// bursts of look-alike events, clock jumps, clean restarts, kills, relay outages, expired tokens,
// a small byte budget and per-request relay faults; the judge then checks the outbox's promises.
// test/unit/outbox-simulation.test.ts runs it on the memory store and on the sql.js store.
//
// Kills (sql.js only). A kill must leave on disk exactly what a process killed at that instant
// would: a prefix of the system calls it made. The test copies the store's files at that instant
// (read twice until both reads agree, so a rename or write the libuv threadpool finishes meanwhile
// cannot tear the copy) into a fresh directory, writes a lock naming a pid that has exited (what a
// killed writer leaves behind; the next open takes it over), and abandons the store and outbox
// objects: their timers are cancelled, their relay requests never answer, and whatever they
// acknowledge after the kill is ignored (nobody was alive to see it). The next life opens the copy.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createOutbox, type Outbox } from '../../src/core/outbox.js';
import type { Clock, TimerHandle } from '../../src/ports/clock.js';
import type { OutboxDelivery, OutboxSendAnswer, OutboxSendResult } from '../../src/ports/outbox-send.js';
import type { OutboxStore } from '../../src/ports/outbox-store.js';
import { classifyRelayStatus } from '../../src/adapters/relay-outbox-send.js';
import { createMemoryOutboxStore } from '../../src/adapters/memory-outbox-store.js';
import { createSqlJsOutboxStore } from '../../src/adapters/sqljs-outbox-store/index.js';
import { createFakeClock, type FakeClock } from '../../src/testing/fake-clock.js';
import { createMemoryLogger } from '../../src/testing/memory-logger.js';
import { RelayUnavailableError } from '../../src/errors/index.js';
import { mulberry32 } from './random.js';
import { abandonOutboxLock } from './outbox-lock.js';

/** Which store the schedule runs on. */
export type SimBackend = 'memory' | 'sqljs';

const KINDS = ['message', 'session', 'insight'] as const;
const BODIES = ['ok', 'done'] as const;
const MAX_DELAY_MS = 20_000;

/** What the schedules exercised, summed over all of them: the test checks none is vacuous. */
export function newCoverage() {
  return {
    sameKeyPayloads: 0,
    refusedFull: 0,
    shed: 0,
    shedSummaries: 0,
    rejected: 0,
    authRecovered: 0,
    outages: 0,
    longRetries: 0,
    restarts: 0,
    /** Kills (sql.js): as a step, in the middle of a burst, and right after the relay applied a batch. */
    killsStep: 0,
    killsMidBurst: 0,
    killsAfterApply: 0,
    /** Enqueues in flight at a kill that reached the relay anyway (their write was on disk). */
    unackedDelivered: 0,
    /** Deliveries the relay recognised by key as already applied (a resend after a kill or a lost response). */
    dedupedResends: 0,
    /** Kills right after a checkpoint started (journal rotated, snapshot not yet installed). */
    killsInCheckpoint: 0,
    /** Kills whose copy held a checkpoint's snapshot being written (`<path>.tmp`): informational. */
    killsMidSnapshot: 0,
    lockTakeovers: 0,
  };
}
/** Coverage counters of {@link runSchedule}. */
export type SimCoverage = ReturnType<typeof newCoverage>;

interface Life {
  id: number;
  dead: boolean;
  timers: Set<TimerHandle>;
  store: OutboxStore;
  outbox: Outbox;
  /** Enqueues issued and not yet answered: on a kill they become "maybe" events. */
  inflight: Map<number, string>;
  busy: number;
}

interface Application {
  seq: number;
  key: string;
  kind: string;
  payload: unknown;
  life: number;
}

/** A clock for one life: the shared fake time, with timers that a kill cancels. `fired` runs after each timeout. */
function lifeClock(base: FakeClock, life: { dead: boolean; timers: Set<TimerHandle> }, fired?: () => void): Clock {
  const track = (handle: TimerHandle) => {
    life.timers.add(handle);
    return handle;
  };
  return {
    now: () => base.now(),
    setTimeout: (cb, ms) => {
      const handle: TimerHandle = track(
        base.setTimeout(() => {
          life.timers.delete(handle);
          if (life.dead) return;
          cb();
          fired?.();
        }, ms),
      );
      return handle;
    },
    clearTimeout: (handle) => {
      if (handle) life.timers.delete(handle);
      base.clearTimeout(handle);
    },
    setInterval: (cb, ms) => track(base.setInterval(() => void (life.dead || cb()), ms)),
    clearInterval: (handle) => {
      if (handle) life.timers.delete(handle);
      base.clearInterval(handle);
    },
  };
}

/** A store that counts its calls in flight, so the schedule can wait for real I/O to settle. */
function counted(store: OutboxStore, life: { busy: number }): OutboxStore {
  const wrap =
    <A extends unknown[], R>(fn: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      life.busy++;
      try {
        return await fn(...args);
      } finally {
        life.busy--;
      }
    };
  return {
    append: wrap((rows) => store.append(rows)),
    list: wrap((options) => store.list(options)),
    update: wrap((seq, patch) => store.update(seq, patch)),
    remove: wrap((seqs) => store.remove(seqs)),
    counts: wrap(() => store.counts()),
    close: wrap(async () => store.close?.()),
  };
}

/** Every file of `dir` (the lock aside), read twice until both reads agree: one instant's state. */
function copyAtOneInstant(dir: string): Map<string, Buffer> {
  const readAll = (): Map<string, Buffer> | undefined => {
    const files = new Map<string, Buffer>();
    for (const name of fs.readdirSync(dir).sort()) {
      if (name.endsWith('.lock')) continue;
      try {
        files.set(name, fs.readFileSync(path.join(dir, name)));
      } catch (error) {
        if ((error as { code?: string }).code === 'ENOENT') return undefined; // renamed meanwhile
        throw error;
      }
    }
    return files;
  };
  for (let attempt = 0; attempt < 10_000; attempt++) {
    const a = readAll();
    const b = readAll();
    if (!a || !b || a.size !== b.size) continue;
    if ([...a].every(([name, bytes]) => b.get(name)?.equals(bytes))) return a;
  }
  throw new Error(`could not copy ${dir} at one instant: its files kept changing`);
}

/**
 * Where the sql.js schedules keep their files: a RAM file system when there is one (Linux
 * `/dev/shm`), so the 200 schedules' thousands of fdatasyncs cost nothing. A kill is simulated by
 * copying the files, not by losing the page cache, so the file system does not change what is tested.
 */
function simTmpDir(): string {
  if (process.env.SIM_TMPDIR) return process.env.SIM_TMPDIR;
  try {
    fs.accessSync('/dev/shm', fs.constants.W_OK);
    return '/dev/shm';
  } catch {
    return os.tmpdir();
  }
}

/** Wait (bounded) until the live store has had no call in flight for a few event-loop turns. */
async function settle(life: Life): Promise<void> {
  let quiet = 0;
  for (let turn = 0; turn < 20_000 && quiet < 3; turn++) {
    await new Promise<void>((resolve) => setImmediate(resolve));
    quiet = life.busy === 0 ? quiet + 1 : 0;
  }
}

/**
 * Run one seeded schedule; returns the first broken invariant, or undefined.
 *
 * Invariants: an enqueue either resolves (accepted) or is refused with OUTBOX_FULL; no accepted
 * agent message is ever dropped (each is applied once or rejected by the relay); an accepted event
 * missing at the relay is a session entry or insight the budget shed, no more of them than were
 * shed, and when any was shed a summary reached the relay; nothing accepted is applied twice (the
 * relay records every application by the event's identity, not by key, so a key that changed
 * between attempts or lives shows); every accepted event reached the relay under the key it was
 * accepted with; the relay saw accepted events in seq order; nothing is left pending or poisoned;
 * the only events the relay saw that nobody saw accepted are the outbox's own shed summaries and
 * events whose enqueue was in flight at a kill (matched by kind and payload).
 */
export async function runSchedule(seed: number, backend: SimBackend, coverage: SimCoverage): Promise<string | undefined> {
  const rand = mulberry32(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(rand() * items.length)]!;
  const clock = createFakeClock();
  // SIM_DEBUG=1 with SIM_SEED: the outbox's debug lines and the relay's applications, on failure.
  const logger = createMemoryLogger({ level: process.env.SIM_DEBUG ? 'debug' : 'info' });
  const sqljs = backend === 'sqljs';
  const base = sqljs ? fs.mkdtempSync(path.join(simTmpDir(), 'outbox-sim-')) : '';
  let dir = base;
  const memoryStore = sqljs ? undefined : createMemoryOutboxStore();
  const journalLimitBytes = 1024 + Math.floor(rand() * 8192); // small: checkpoints (and kills inside them) are frequent
  const zombies: Array<Promise<unknown>> = []; // the abandoned stores' close(), awaited before the files go

  const seenKeys = new Set<string>(); // keys the relay has applied (its dedupe)
  const applied: Application[] = []; // every application, in order
  const rejectedKeys = new Set<string>();
  const rejectedSummaries = { count: 0 };
  const accepted = new Map<string, { seq: number; kind: string; life: number }>(); // key → event
  const maybe: string[] = []; // `kind payload` of enqueues in flight at a kill
  let refusedFull = 0;
  let shedTotal = 0;
  const relay = { downUntil: 0, tokenValid: true };
  const smallBudget = rand() < 0.5;
  const budget = smallBudget ? 1500 + Math.floor(rand() * 4000) : undefined;
  const batchMaxRows = 1 + Math.floor(rand() * 8);
  const problems: string[] = [];
  let lifeCount = 0;
  let life: Life;
  let needRestart = false;
  /** A clean shutdown's store close() in progress (a kill may land inside its checkpoint). */
  let closing: Promise<void> | undefined;

  const relaySend = (batch: readonly OutboxDelivery[], lifeId: number): OutboxSendAnswer => {
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
      if (seenKeys.has(item.idempotencyKey)) {
        coverage.dedupedResends++;
        results.push({ type: 'delivered', status: 200 }); // a duplicate: acknowledged, not applied again
      } else if (rejectedKeys.has(item.idempotencyKey) || rand() < 0.04) {
        // A permanent refusal is the same on every attempt (a lost response makes the outbox ask again).
        if (!rejectedKeys.has(item.idempotencyKey) && (item.payload as { type?: string }).type === 'outbox_shed') rejectedSummaries.count++;
        rejectedKeys.add(item.idempotencyKey);
        results.push(classifyRelayStatus(rand() < 0.5 ? 409 : 422, undefined, 'refused by the relay'));
      } else {
        seenKeys.add(item.idempotencyKey);
        applied.push({ seq: item.seq, key: item.idempotencyKey, kind: item.kind, payload: item.payload, life: lifeId });
        if (process.env.SIM_DEBUG) logger.debug('relay', `applied #${item.seq} ${item.idempotencyKey} (life ${lifeId})`);
        results.push({ type: 'delivered', status: 201 });
      }
    }
    if (sqljs && rand() < 0.03) kill('afterApply'); // the relay applied the batch; the runner dies before it hears so
    if (rand() < 0.1) throw new RelayUnavailableError('response lost after apply');
    return { perRow: results };
  };

  const makeLife = (): Life => {
    const id = ++lifeCount;
    const partial = { id, dead: false, timers: new Set<TimerHandle>(), inflight: new Map<number, string>(), busy: 0 };
    const lclock = lifeClock(clock, partial);
    // The store's only timer starts a checkpoint (journal rotation, then the snapshot written on
    // the threadpool): kill right after it fired now and then, so kills land inside checkpoints.
    const storeClock = lifeClock(clock, partial, () => void (rand() < 0.25 && kill('inCheckpoint')));
    const raw = sqljs ? createSqlJsOutboxStore({ path: path.join(dir, 'outbox.db'), clock: storeClock, logger, journalLimitBytes }) : memoryStore!;
    const store = counted(raw, partial);
    const outbox = createOutbox({
      store,
      send: async (batch) => {
        const never = new Promise<OutboxSendAnswer>(() => undefined);
        if (partial.dead) return never; // a dead process sends nothing
        try {
          const answer = relaySend(batch, id);
          return partial.dead ? never : answer;
        } catch (error) {
          if (partial.dead) return never;
          throw error;
        }
      },
      clock: lclock,
      logger,
      agentId: `sim-${seed}`,
      random: rand,
      maxAttempts: 2, // outages must never poison, however many attempts they cost
      maxDelayMs: MAX_DELAY_MS,
      ...(budget !== undefined ? { maxBytes: budget } : {}),
      batchMaxRows,
      onAuthFailure: async () => {
        if (rand() < 0.3) throw new Error('token endpoint unreachable');
        if (!relay.tokenValid) coverage.authRecovered++;
        relay.tokenValid = true;
      },
    });
    // Counted even when it reports after a kill: the remove may have reached the disk before the kill.
    outbox.on('shed', (e) => void (shedTotal += e.rows));
    // A retry well past maxAttempts: the outbox kept trying rather than poisoning.
    outbox.on('retry', (e) => void (e.attempts > 2 && coverage.longRetries++));
    return Object.assign(partial, { store, outbox });
  };

  /** kill -9 of the current life (sql.js): see the file comment. */
  function kill(where: 'step' | 'midBurst' | 'afterApply' | 'inCheckpoint'): void {
    if (!sqljs || life.dead) return;
    life.dead = true;
    for (const handle of life.timers) clock.clearTimeout(handle);
    life.timers.clear();
    maybe.push(...life.inflight.values());
    const files = copyAtOneInstant(dir);
    if (files.has('outbox.db.tmp')) coverage.killsMidSnapshot++; // the copy holds a snapshot being written
    if (where === 'inCheckpoint') coverage.killsInCheckpoint++;
    dir = fs.mkdtempSync(path.join(base, 'life-'));
    for (const [name, bytes] of files) fs.writeFileSync(path.join(dir, name), bytes, { mode: 0o600 });
    abandonOutboxLock(path.join(dir, 'outbox.db'));
    zombies.push((closing ?? life.store.close?.() ?? Promise.resolve()).catch(() => undefined));
    closing = undefined;
    needRestart = true;
    if (where !== 'inCheckpoint') coverage[where === 'step' ? 'killsStep' : where === 'midBurst' ? 'killsMidBurst' : 'killsAfterApply']++;
  }

  /**
   * A clean shutdown killed part-way: close() checkpoints (rotates the journal, then writes and
   * installs a snapshot on the threadpool); the kill lands a few event-loop turns into it.
   */
  const killDuringShutdown = async (): Promise<void> => {
    const file = path.join(dir, 'outbox.db');
    const header = (bytes: Buffer | undefined) => (bytes ? bytes.toString('utf8', 0, bytes.indexOf(0x0a)) : '');
    await life.outbox.close();
    const journalBefore = header(fs.readFileSync(`${file}.journal`));
    const snapshotBefore = fs.readFileSync(file);
    closing = life.store.close?.();
    const turns = Math.floor(rand() * 6);
    for (let i = 0; i < turns; i++) await new Promise<void>((resolve) => setImmediate(resolve));
    // Inside the checkpoint: the journal already rotated, the new snapshot not yet installed.
    let rotated = false;
    try {
      rotated = header(fs.readFileSync(`${file}.journal`)) !== journalBefore && fs.readFileSync(file).equals(snapshotBefore);
    } catch {
      rotated = true; // the journal is being switched right now
    }
    kill(rotated ? 'inCheckpoint' : 'step');
  };

  const restart = async (): Promise<void> => {
    if (!life.dead) {
      coverage.restarts++;
      await life.outbox.close(); // a clean restart: rows stay in the store
      if (sqljs) await life.store.close?.();
    }
    needRestart = false;
    life = makeLife();
    life.outbox.start();
    if (sqljs) await settle(life);
  };

  life = makeLife();
  life.outbox.start();
  const steps = 20 + Math.floor(rand() * 30);
  const sameMs = new Set<string>();
  let ticket = 0;
  try {
    for (let step = 0; step < steps; step++) {
      const action = rand();
      if (action < 0.5) {
        const burst = 1 + Math.floor(rand() * 6);
        const killAt = sqljs && rand() < 0.12 ? Math.floor(rand() * burst) : -1;
        const current = life;
        let answered = 0;
        const enqueues = Array.from({ length: burst }, async () => {
          const kind = pick(KINDS);
          const payload = kind === 'insight' ? { type: 'note', data: { body: pick(BODIES) } } : { body: pick(BODIES) };
          const id = ticket++;
          current.inflight.set(id, `${kind} ${JSON.stringify(payload)}`);
          try {
            const row = await current.outbox.enqueue({ kind, payload });
            if (current.dead) return; // acknowledged to nobody: the process was killed
            current.inflight.delete(id);
            const same = `${kind}:${clock.now()}:${JSON.stringify(payload)}`;
            if (sameMs.has(same)) coverage.sameKeyPayloads++; // the old key scheme would collide here
            sameMs.add(same);
            if (accepted.has(row.idempotencyKey)) problems.push(`two accepted events share the key ${row.idempotencyKey}`);
            accepted.set(row.idempotencyKey, { seq: row.seq, kind, life: current.id });
          } catch (error) {
            if (current.dead) return;
            current.inflight.delete(id);
            if ((error as { code?: string }).code === 'OUTBOX_FULL' && smallBudget) refusedFull++;
            else problems.push(`enqueue failed: ${String(error)}`);
          } finally {
            if (++answered === killAt && !current.dead) kill('midBurst');
          }
        });
        if (killAt === 0) kill('midBurst'); // before any of them reached the journal
        await Promise.all(enqueues);
      } else if (action < 0.8) {
        await clock.advanceAsync(Math.floor(rand() * 5000));
      } else if (action < 0.88) {
        // An outage longer than the backoff cap: two to six times it.
        relay.downUntil = clock.now() + MAX_DELAY_MS * (2 + rand() * 4);
        coverage.outages++;
      } else if (action < 0.92) {
        relay.tokenValid = false;
      } else if (sqljs && action < 0.95) {
        kill('step');
      } else if (sqljs && action < 0.97) {
        await killDuringShutdown();
      } else {
        await restart();
      }
      if (sqljs) await settle(life);
      while (needRestart || life.dead) await restart(); // a restart's own start may be killed too
    }
    // Let it finish: the relay heals eventually because faults are random per request.
    for (let i = 0; i < 400 && (await life.outbox.stats()).pending > 0; i++) {
      await clock.advanceAsync(60_000);
      if (sqljs) await settle(life);
      while (needRestart || life.dead) await restart(); // a restart's own start may be killed too
    }
    const stats = await life.outbox.stats();
    await life.outbox.close();
    if (sqljs) await life.store.close?.();

    coverage.refusedFull += refusedFull;
    coverage.shed += shedTotal;
    coverage.rejected += [...accepted.keys()].filter((key) => rejectedKeys.has(key)).length;
    coverage.lockTakeovers += logger.entries.filter((e) => e.message.includes('took over the outbox lock')).length;
    const judge = (): string | undefined => {
      if (problems.length > 0) return problems[0];
      if (stats.pending !== 0 || stats.poisoned !== 0) return `left pending=${stats.pending} poisoned=${stats.poisoned}`;
      // Attribute each application to an accepted event: the one with its seq, accepted in this
      // life or an earlier one (a seq a killed life never wrote down may be reused by a later one;
      // an accepted row is on disk, so its seq never is).
      const bySeq = new Map<number, Array<{ key: string; life: number }>>();
      for (const [key, e] of accepted) bySeq.set(e.seq, [...(bySeq.get(e.seq) ?? []), { key, life: e.life }]);
      const hits = new Map<string, Application[]>();
      const unattributed: Application[] = [];
      const acceptedOrder: number[] = [];
      for (const app of applied) {
        const owner = (bySeq.get(app.seq) ?? []).filter((e) => e.life <= app.life).sort((a, b) => b.life - a.life)[0];
        if (!owner) {
          unattributed.push(app);
          continue;
        }
        hits.set(owner.key, [...(hits.get(owner.key) ?? []), app]);
        acceptedOrder.push(app.seq);
      }
      for (const [key, e] of accepted) {
        const got = hits.get(key) ?? [];
        if (got.length > 1) return `accepted event #${e.seq} (${e.kind}) was applied ${got.length} times, under keys ${got.map((a) => a.key).join(', ')}`;
        if (got.length === 1 && got[0]!.key !== key) return `accepted event #${e.seq} reached the relay under key ${got[0]!.key}, accepted as ${key}`;
        if (got.length === 0 && !rejectedKeys.has(key) && e.kind === 'message') return `accepted agent message #${e.seq} was dropped`;
      }
      const missing = [...accepted].filter(([key]) => !hits.has(key) && !rejectedKeys.has(key));
      if (missing.length > shedTotal) return `${missing.length} accepted events missing at the relay, only ${shedTotal} shed`;
      const summaries = unattributed.filter((a) => a.kind === 'insight' && (a.payload as { type?: string }).type === 'outbox_shed');
      coverage.shedSummaries += summaries.length;
      if (missing.length > 0 && summaries.length + rejectedSummaries.count === 0) return `${missing.length} event(s) shed, but no shed summary reached the relay`;
      const unmatched = [...maybe];
      for (const app of unattributed) {
        if (summaries.includes(app)) continue;
        const at = unmatched.indexOf(`${app.kind} ${JSON.stringify(app.payload)}`);
        if (at < 0) return `the relay got #${app.seq} (${app.key}), which nobody enqueued`;
        unmatched.splice(at, 1);
        coverage.unackedDelivered++;
      }
      const disorder = acceptedOrder.findIndex((seq, i) => i > 0 && seq <= acceptedOrder[i - 1]!);
      if (disorder >= 0) return `order differs at position ${disorder}: ${acceptedOrder.slice(Math.max(0, disorder - 5), disorder + 3).join(',')}`;
      if (!smallBudget && (shedTotal > 0 || refusedFull > 0)) return 'shed or refused under the default budget';
      return undefined;
    };
    const problem = judge();
    if (problem && process.env.SIM_DEBUG) console.log(logger.lines().join('\n'));
    return problem;
  } finally {
    await Promise.all(zombies);
    if (sqljs) fs.rmSync(base, { recursive: true, force: true });
  }
}
