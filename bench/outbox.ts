// Outbox store benchmark (SPEC §11): durable enqueue one at a time on an empty store and at a
// 5,000-row backlog (and their ratio to the floor), burst enqueue, the event-loop stall during
// checkpoints, and one raw write+fdatasync as the floor — for each journal
// I/O style, side by side in one run. `adaptive` is the product's (the store's default); the
// other styles live here, injected through the store's internal constructor, so the choice
// stays measurable.
//
//   node --import tsx bench/outbox.ts            (writes bench/results/outbox.json)
//
// A benchmark, not a test: it prints numbers and bar verdicts and never fails on speed. The
// measuring helpers take a plain `append(i)` function so the same shapes can be re-run through
// the outbox dispatcher (`(i) => outbox.enqueue(...)`).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { SqlJsOutboxStore } from '../src/adapters/sqljs-outbox-store/store.js';
import { JournalWriter, hybridDurableWrite, type DurableWrite } from '../src/adapters/sqljs-outbox-store/journal.js';
import { SnapshotDb } from '../src/adapters/sqljs-outbox-store/snapshot.js';
import { writeAllSync } from '../src/adapters/sqljs-outbox-store/files.js';
import { FS_MODES, createAdaptiveDurableWrite } from '../src/adapters/sqljs-outbox-store/durable-write.js';
import type { NewOutboxRow, OutboxStore } from '../src/ports/outbox-store.js';
import { createSystemClock } from '../src/adapters/system-clock.js';

/**
 * How the journal is written. `sync`: `fs.writeSync` + `fs.fdatasyncSync` (blocks the event loop
 * for one disk sync per group commit). `hybrid`: `fs.writeSync` then `fs.fdatasync` on the libuv
 * threadpool, always. `adaptive` (the product's): `sync` for a lone commit while the disk is
 * measured fast, else `hybrid` (src/adapters/sqljs-outbox-store/durable-write.ts). `async`:
 * `fs.write` + `fs.fdatasync`, both on the threadpool.
 */
export type OutboxJournalIo = 'sync' | 'hybrid' | 'adaptive' | 'async';

/**
 * What the adaptive writers did over the whole run: commits per mode, and the main-thread syncs'
 * durations (each one is an event-loop block), timed here with performance.now.
 */
const adaptiveStats = { mainThreadSyncs: 0, threadpoolSyncs: 0, mainThreadSyncMaxMs: 0, mainThreadSyncsOver2Ms: 0, mainThreadSyncsOver10Ms: 0 };
const ADAPTIVE_MODES = {
  sync(fd: number, bytes: Uint8Array) {
    const t = performance.now();
    FS_MODES.sync(fd, bytes);
    const ms = performance.now() - t;
    adaptiveStats.mainThreadSyncs++;
    adaptiveStats.mainThreadSyncMaxMs = Math.max(adaptiveStats.mainThreadSyncMaxMs, round(ms, 2));
    if (ms > 2) adaptiveStats.mainThreadSyncsOver2Ms++;
    if (ms > 10) adaptiveStats.mainThreadSyncsOver10Ms++;
  },
  threadpool(fd: number, bytes: Uint8Array) {
    adaptiveStats.threadpoolSyncs++;
    return FS_MODES.threadpool(fd, bytes);
  },
};

/** A fresh writer per store (the adaptive one keeps per-store timing state). */
const WRITERS: Record<OutboxJournalIo, () => DurableWrite> = {
  sync: () => async (fd, bytes) => {
    writeAllSync(fd, bytes);
    fs.fdatasyncSync(fd);
  },
  hybrid: () => hybridDurableWrite,
  adaptive: () => createAdaptiveDurableWrite(createSystemClock(), undefined, ADAPTIVE_MODES),
  async: () => async (fd, bytes) => {
    let off = 0;
    while (off < bytes.length) {
      off += await new Promise<number>((resolve, reject) => fs.write(fd, bytes, off, bytes.length - off, null, (error, n) => (error ? reject(error) : resolve(n))));
    }
    await new Promise<void>((resolve, reject) => fs.fdatasync(fd, (error) => (error ? reject(error) : resolve())));
  },
};

/** One measured run. */
export interface Rate {
  /** Operations measured. */
  n: number;
  /** Wall time in ms. */
  ms: number;
  /** Operations per second. */
  perSec: number;
  /** Mean microseconds per operation. */
  usPerOp: number;
}

/** Event-loop delay seen while a measurement ran (how long other work had to wait). */
export interface LoopDelay {
  p99Ms: number;
  maxMs: number;
}

const rate = (n: number, ms: number): Rate => ({ n, ms: round(ms), perSec: Math.round((n / ms) * 1000), usPerOp: round((ms * 1000) / n) });
const round = (x: number, digits = 1) => Math.round(x * 10 ** digits) / 10 ** digits;

/** A ~300-byte event, roughly a session-mirror line. */
export function benchRow(i: number): NewOutboxRow {
  return {
    kind: 'session',
    payloadJson: JSON.stringify({ entry: 'reply', body: `event ${i} `.padEnd(220, 'lorem ipsum '), replyTo: `msg_${i}` }),
    idempotencyKey: `bench-${i}-${'k'.repeat(24)}`,
    occurredAt: 1_767_225_600_000 + i,
  };
}

/**
 * Watch how long the event loop is blocked: a 1 ms interval records the gaps between its ticks.
 * (perf_hooks' histogram records nothing when the loop never gets back to its timer.)
 */
export function watchLoop(): () => LoopDelay {
  const gaps: number[] = [];
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    gaps.push(now - last);
    last = now;
  }, 1);
  return () => {
    clearInterval(timer);
    gaps.push(performance.now() - last); // a loop blocked until the end shows up here
    gaps.sort((a, b) => a - b);
    return { p99Ms: round(gaps[Math.floor(gaps.length * 0.99)] ?? 0, 2), maxMs: round(gaps.at(-1) ?? 0, 2) };
  };
}

/** `n` appends, each awaited before the next (durable one at a time). */
export async function measureSequential(append: (i: number) => Promise<unknown>, n: number, offset = 0): Promise<Rate & LoopDelay> {
  const stop = watchLoop();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await append(offset + i);
  const ms = performance.now() - t0;
  return { ...rate(n, ms), ...stop() };
}

/** `n` appends issued without awaiting, then all awaited (group commit). */
export async function measureBurst(append: (i: number) => Promise<unknown>, n: number, offset = 0): Promise<Rate> {
  const t0 = performance.now();
  const all: Array<Promise<unknown>> = [];
  for (let i = 0; i < n; i++) all.push(append(offset + i));
  await Promise.all(all);
  return rate(n, performance.now() - t0);
}

/** The floor: one write of a journal-sized line plus one fdatasync, `n` times, on `dir`'s disk. */
export function measureFsyncFloor(dir: string, n: number): Rate {
  const file = path.join(dir, 'fsync-floor');
  const fd = fs.openSync(file, 'a', 0o600);
  const line = Buffer.from(`${JSON.stringify({ a: [[1, 'session', benchRow(1).payloadJson, benchRow(1).idempotencyKey, null, 1]] })}\n`);
  try {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      fs.writeSync(fd, line);
      fs.fdatasyncSync(fd);
    }
    return rate(n, performance.now() - t0);
  } finally {
    fs.closeSync(fd);
    fs.rmSync(file, { force: true });
  }
}

/** Results for one journal I/O style. */
export interface ModeResult {
  /** Awaited appends on a store kept empty (rows removed between chunks, unmeasured). */
  sequentialEmpty: Rate & LoopDelay & { chunkPerSec: number[] };
  /** Awaited appends on a store kept at the backlog (each chunk's rows removed afterwards, unmeasured). */
  sequentialBacklog: Rate & LoopDelay & { chunkPerSec: number[] };
  /** sequentialEmpty.perSec / sequentialBacklog.perSec (bar: ≤ 1.5). */
  backlogSlowdown: number;
  /** Checkpoints (snapshot rewrites) that happened inside the measured sequential chunks. */
  checkpoints: { empty: number; backlog: number };
  /** Acknowledged (durable) burst rate on an empty store. */
  burst: Rate;
  /** Same burst, timed until a following `list()` returned (rows also written into sql.js). */
  burstSettled: Rate;
  /** Burst on top of the backlog. */
  burstBacklog: Rate;
}

async function openStore(dir: string, name: string, io: OutboxJournalIo): Promise<{ store: OutboxStore; file: string }> {
  const file = path.join(dir, `${name}.db`);
  const store = new SqlJsOutboxStore({ clock: createSystemClock(), path: file }, WRITERS[io]());
  await store.counts(); // open outside the measurement
  return { store, file };
}

const inode = (file: string) => fs.statSync(file).ino;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

/** Sum chunk measurements into one rate; keep each chunk's rate to show the spread. */
function combine(chunks: Array<Rate & LoopDelay>): Rate & LoopDelay & { chunkPerSec: number[] } {
  const n = chunks.reduce((a, c) => a + c.n, 0);
  const ms = chunks.reduce((a, c) => a + c.ms, 0);
  return {
    ...rate(n, ms),
    p99Ms: Math.max(...chunks.map((c) => c.p99Ms)),
    maxMs: Math.max(...chunks.map((c) => c.maxMs)),
    chunkPerSec: chunks.map((c) => c.perSec),
  };
}

/**
 * Sequential rates for every mode, measured in interleaved chunks (mode by mode, scenario by
 * scenario, with a raw fsync chunk in every round) so that a noisy, shared disk affects all of
 * them alike.
 */
async function benchSequential(dir: string, modes: OutboxJournalIo[], rounds: number, chunk: number, backlog: number) {
  type Sides = { empty: { store: OutboxStore; file: string }; loaded: { store: OutboxStore; file: string } };
  const stores = new Map<OutboxJournalIo, Sides>();
  for (const io of modes) {
    const empty = await openStore(dir, `${io}-empty`, io);
    for (let i = 0; i < 200; i++) await empty.store.append([benchRow(-1 - i)]); // warm up the JIT and the file
    await empty.store.remove((await empty.store.list({ state: 'pending', limit: 1000 })).map((r) => r.seq));
    const loaded = await openStore(dir, `${io}-backlog`, io);
    for (let i = 0; i < backlog; i += 500) await Promise.all(Array.from({ length: 500 }, (_, k) => loaded.store.append([benchRow(1_000_000 + i + k)])));
    await loaded.store.list({ state: 'pending', limit: 1 }); // settle the write-behind before measuring
    stores.set(io, { empty, loaded });
  }
  const chunks = new Map(modes.map((io) => [io, { empty: [] as Array<Rate & LoopDelay>, backlog: [] as Array<Rate & LoopDelay>, cpEmpty: 0, cpBacklog: 0 }]));
  const floors: Rate[] = [];
  let offset = 0;
  for (let r = 0; r < rounds; r++) {
    floors.push(measureFsyncFloor(dir, chunk));
    for (const io of modes) {
      const { empty, loaded } = stores.get(io)!;
      const out = chunks.get(io)!;
      for (const side of ['empty', 'backlog'] as const) {
        const target = side === 'empty' ? empty : loaded;
        const before = inode(target.file);
        const seqs: number[] = [];
        out[side].push(
          await measureSequential(async (i) => {
            const [row] = await target.store.append([benchRow(i)]);
            seqs.push(row!.seq);
          }, chunk, offset),
        );
        offset += chunk;
        if (inode(target.file) !== before) out[side === 'empty' ? 'cpEmpty' : 'cpBacklog']++;
        await target.store.remove(seqs); // back to the same size for the next chunk
      }
    }
  }
  for (const { empty, loaded } of stores.values()) {
    await empty.store.close?.();
    await loaded.store.close?.();
  }
  return { chunks, floors };
}

async function benchBursts(dir: string, io: OutboxJournalIo, burstN: number, backlog: number) {
  const b = await openStore(dir, `${io}-burst`, io);
  const burst = await measureBurst((i) => b.store.append([benchRow(i)]), burstN);
  await b.store.close?.();

  const s = await openStore(dir, `${io}-burst-settled`, io);
  const t0 = performance.now();
  await Promise.all(Array.from({ length: burstN }, (_, i) => s.store.append([benchRow(i)])));
  await s.store.list({ state: 'pending', limit: 1 });
  const burstSettled = rate(burstN, performance.now() - t0);
  await s.store.close?.();

  const l = await openStore(dir, `${io}-burst-backlog`, io);
  for (let i = 0; i < backlog; i += 500) await Promise.all(Array.from({ length: 500 }, (_, k) => l.store.append([benchRow(1_000_000 + i + k)])));
  await l.store.list({ state: 'pending', limit: 1 });
  const burstBacklog = await measureBurst((i) => l.store.append([benchRow(i)]), burstN, 2_000_000);
  await l.store.close?.();
  return { burst, burstSettled, burstBacklog };
}

/**
 * Event-loop stall during checkpoints: a store at the backlog takes small awaited bursts (each
 * removed again, so the backlog stays put) until `checkpoints` snapshot rewrites have happened,
 * while a 1 ms interval records the loop's gaps. Two figures: the loop's max gap over the whole
 * window (an upper bound: on a loaded machine it includes the OS not scheduling us at all), and
 * the main-thread time of each checkpoint's synchronous part (journal rotation + image export,
 * timed around those calls). Bar: max ≤ 10 ms.
 */
async function benchCheckpointStall(dir: string, io: OutboxJournalIo, backlog: number, checkpoints: number) {
  const s = await openStore(dir, `${io}-checkpoint-stall`, io);
  for (let i = 0; i < backlog; i += 500) await Promise.all(Array.from({ length: 500 }, (_, k) => s.store.append([benchRow(3_000_000 + i + k)])));
  await s.store.list({ state: 'pending', limit: 1 });
  const syncParts: number[] = [];
  const timed = <T extends object, K extends keyof T>(proto: T, key: K) => {
    const original = proto[key] as unknown as (...args: unknown[]) => unknown;
    proto[key] = function (this: unknown, ...args: unknown[]) {
      const t = performance.now();
      try {
        return original.apply(this, args);
      } finally {
        syncParts.push(performance.now() - t);
      }
    } as unknown as T[K];
    return () => void (proto[key] = original as unknown as T[K]);
  };
  const restoreRotate = timed(JournalWriter.prototype, 'rotate');
  const restoreExport = timed(SnapshotDb.prototype, 'checkpointImage'); // its synchronous part: handing the export to the worker
  let seen = 0;
  let last = inode(s.file);
  let appended = 0;
  const stop = watchLoop();
  const t0 = performance.now();
  try {
    // Bounded: a disk this slow gives up after 60 s and reports how many it saw.
    while (seen < checkpoints && performance.now() - t0 < 60_000) {
      const rows = await Promise.all(Array.from({ length: 20 }, () => s.store.append([benchRow(4_000_000 + appended++)])));
      await s.store.remove(rows.map(([row]) => row!.seq));
      const now = inode(s.file);
      if (now !== last) {
        seen++;
        last = now;
      }
    }
  } finally {
    restoreRotate();
    restoreExport();
  }
  const loop = stop();
  await s.store.close?.();
  // rotate and export alternate: pair them into one figure per checkpoint.
  const perCheckpoint: number[] = [];
  for (let i = 0; i + 1 < syncParts.length; i += 2) perCheckpoint.push(round(syncParts[i]! + syncParts[i + 1]!, 2));
  return { checkpoints: seen, appends: appended, ms: round(performance.now() - t0), loopP99Ms: loop.p99Ms, loopMaxMs: loop.maxMs, mainThreadMsPerCheckpoint: perCheckpoint, mainThreadMaxMs: Math.max(0, ...perCheckpoint) };
}

function machine() {
  const cpus = os.cpus();
  return {
    nproc: os.availableParallelism(),
    cpu: cpus[0]?.model ?? 'unknown',
    memTotalGiB: round(os.totalmem() / 1024 ** 3, 1),
    memFreeGiB: round(os.freemem() / 1024 ** 3, 1),
    loadAvg: os.loadavg().map((x) => round(x, 2)),
    node: process.version,
    platform: `${os.platform()} ${os.release()}`,
  };
}

/** Run everything and return the JSON that goes to bench/results/outbox.json. */
export async function runOutboxBench(options: { dir?: string; rounds?: number; chunk?: number; burstN?: number; backlog?: number } = {}) {
  const dir = options.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'outbox-bench-'));
  const rounds = options.rounds ?? 12;
  const chunk = options.chunk ?? 500;
  const burstN = options.burstN ?? 20_000;
  const backlog = options.backlog ?? 5000;
  const modes: OutboxJournalIo[] = ['sync', 'hybrid', 'adaptive', 'async'];
  const startedLoad = os.loadavg().map((x) => round(x, 2));
  try {
    const { chunks, floors } = await benchSequential(dir, modes, rounds, chunk, backlog);
    const floor = { ...combine(floors.map((f) => ({ ...f, p99Ms: 0, maxMs: 0 }))), medianChunkUsPerOp: median(floors.map((f) => f.usPerOp)) };
    const results: Partial<Record<OutboxJournalIo, ModeResult>> = {};
    for (const io of modes) {
      const c = chunks.get(io)!;
      const sequentialEmpty = combine(c.empty);
      const sequentialBacklog = combine(c.backlog);
      results[io] = {
        sequentialEmpty,
        sequentialBacklog,
        backlogSlowdown: round(sequentialEmpty.perSec / sequentialBacklog.perSec, 2),
        checkpoints: { empty: c.cpEmpty, backlog: c.cpBacklog },
        ...(await benchBursts(dir, io, burstN, backlog)),
      };
    }
    const checkpointStall = await benchCheckpointStall(dir, 'adaptive', backlog, 5);
    const checkpointStallHybrid = await benchCheckpointStall(dir, 'hybrid', backlog, 5);
    const bars = Object.fromEntries(
      modes.map((io) => {
        const r = results[io]!;
        return [
          io,
          {
            sequentialBacklogAtLeast3000: r.sequentialBacklog.perSec >= 3000,
            backlogWithin1_5x: r.backlogSlowdown <= 1.5,
            burstAtLeast50000: r.burst.perSec >= 50_000,
            sequentialEmptyVsFloor: round(r.sequentialEmpty.perSec / floor.perSec, 2),
            sequentialBacklogVsFloor: round(r.sequentialBacklog.perSec / floor.perSec, 2),
            vsFloorAtLeast0_85: Math.min(r.sequentialEmpty.perSec, r.sequentialBacklog.perSec) / floor.perSec >= 0.85,
          },
        ];
      }),
    );
    return {
      date: new Date().toISOString(),
      machine: { ...machine(), loadAvgAtStart: startedLoad },
      parameters: { rounds, chunk, burstN, backlog, rowPayloadBytes: Buffer.byteLength(benchRow(1).payloadJson) },
      fsyncFloor: floor,
      modes: results,
      checkpointStall: { ...checkpointStall, mainThreadMaxAtMost10Ms: checkpointStall.mainThreadMaxMs <= 10, loopMaxAtMost10Ms: checkpointStall.loopMaxMs <= 10 },
      adaptiveStats,
      checkpointStallHybrid: { ...checkpointStallHybrid, mainThreadMaxAtMost10Ms: checkpointStallHybrid.mainThreadMaxMs <= 10, loopMaxAtMost10Ms: checkpointStallHybrid.loopMaxMs <= 10 },
      bars,
    };
  } finally {
    if (!options.dir) fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const result = await runOutboxBench();
  const out = path.join(path.dirname(fileURLToPath(import.meta.url)), 'results', 'outbox.json');
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
  const f = result.fsyncFloor;
  console.log(`load average at start ${result.machine.loadAvgAtStart.join(' ')}, at end ${result.machine.loadAvg.join(' ')}`);
  console.log(`fsync floor (write+fdatasync): ${f.usPerOp} µs = ${f.perSec}/s (chunks: ${f.chunkPerSec.join(', ')} /s)`);
  console.log('| io | seq empty /s | seq 5k backlog /s | empty÷backlog | empty ÷ floor | backlog ÷ floor | loop p99 / max ms | checkpoints empty / backlog | burst /s | burst settled /s | burst on backlog /s |');
  for (const [io, r] of Object.entries(result.modes)) {
    if (!r) continue;
    console.log(
      `| ${io} | ${r.sequentialEmpty.perSec} | ${r.sequentialBacklog.perSec} | ${r.backlogSlowdown} | ${result.bars[io]!.sequentialEmptyVsFloor} | ${result.bars[io]!.sequentialBacklogVsFloor} | ${r.sequentialBacklog.p99Ms} / ${r.sequentialBacklog.maxMs} | ${r.checkpoints.empty} / ${r.checkpoints.backlog} | ${r.burst.perSec} | ${r.burstSettled.perSec} | ${r.burstBacklog.perSec} |`,
    );
  }
  for (const [io, cs] of [['adaptive', result.checkpointStall], ['hybrid', result.checkpointStallHybrid]] as const) {
    console.log(
      `checkpoint stall (${io}, ${result.parameters.backlog}-row backlog): ${cs.checkpoints} checkpoints in ${cs.ms} ms; main thread per checkpoint ${cs.mainThreadMsPerCheckpoint.join(', ')} ms (max ${cs.mainThreadMaxMs}); loop gaps over the window p99 ${cs.loopP99Ms} ms, max ${cs.loopMaxMs} ms`,
    );
  }
  const a = result.adaptiveStats;
  console.log(
    `adaptive commits: ${a.mainThreadSyncs} on the main thread (max ${a.mainThreadSyncMaxMs} ms; ${a.mainThreadSyncsOver2Ms} over 2 ms, ${a.mainThreadSyncsOver10Ms} over 10 ms), ${a.threadpoolSyncs} on the threadpool`,
  );
  console.log(`wrote ${out}`);
}
