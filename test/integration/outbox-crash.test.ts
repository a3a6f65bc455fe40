// kill -9 at random moments while a real child process appends to a sql.js outbox store: after
// every kill, reopening the store must find every acknowledged row intact, in order, with no
// gaps except rows the child removed. Rounds continue on the same files, so kills also land
// inside recovery of earlier kills; every third round is killed the moment a checkpoint starts
// writing its snapshot (after the journal rotation, during the off-thread write). The child
// mixes single appends with bursts of up to a few hundred concurrent ones.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createSqlJsOutboxStore } from '../../src/adapters/sqljs-outbox-store/index.js';
import { createMemoryLogger } from '../../src/testing/memory-logger.js';
import { payloadFor } from '../fixtures/outbox-crash/payload.js';
import { createSystemClock } from '../../src/adapters/system-clock.js';

const CHILD = fileURLToPath(new URL('../fixtures/outbox-crash/child.ts', import.meta.url));
const MIN_ROUNDS = 25;
const MAX_ROUNDS = 40;
const BUDGET_MS = 60_000;

interface RoundLog {
  appended: Map<number, string>; // seq → event id, acknowledged
  removeIntents: Set<number>;
  removed: Set<number>; // acknowledged
  updates: Map<number, number>; // seq → attempts acknowledged
  ready: boolean;
}

/**
 * `killAfterMs`: kill that long after the child is ready. `'checkpoint'`: kill the moment a
 * checkpoint creates its temp snapshot (seen through fs.watch), so the kill lands inside the
 * snapshot write or right after the journal rotation.
 */
async function runChild(file: string, round: number, killAfterMs: number | 'checkpoint'): Promise<RoundLog> {
  const log: RoundLog = { appended: new Map(), removeIntents: new Set(), removed: new Set(), updates: new Map(), ready: false };
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, file, String(round)], {
    cwd: path.dirname(CHILD),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  // 'close', not 'exit': 'exit' may come before the last stdout chunks were read.
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal })),
  );
  let partial = '';
  let onReady: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => (onReady = resolve));
  child.stdout.on('data', (chunk: Buffer) => {
    const lines = (partial + chunk.toString('utf8')).split('\n');
    partial = lines.pop() ?? ''; // a line without its newline is not a complete report
    for (const line of lines) {
      const [tag, a, b] = line.split(' ');
      if (tag === 'ready') {
        log.ready = true;
        onReady();
      } else if (tag === 'a') log.appended.set(Number(a), b!);
      else if (tag === 'R') log.removeIntents.add(Number(a));
      else if (tag === 'r') log.removed.add(Number(a));
      else if (tag === 'u') log.updates.set(Number(a), Number(b));
    }
  });
  // Kill a fixed time after the child is ready (its start-up through tsx takes most of a second).
  const readyOrExit = await Promise.race([ready.then(() => 'ready' as const), exited.then(() => 'exited' as const)]);
  if (readyOrExit === 'exited') throw new Error(`crash child exited before ready: ${stderr}`);
  if (killAfterMs === 'checkpoint') {
    // The child writes without pause, so a checkpoint comes; the bound only turns a hang into a failure.
    const tmpName = `${path.basename(file)}.tmp`;
    let watcher: fs.FSWatcher | undefined;
    const sawCheckpoint = await new Promise<boolean>((resolve) => {
      const bound = setTimeout(() => resolve(false), 30_000);
      watcher = fs.watch(path.dirname(file), (_event, name) => {
        if (name === tmpName) {
          child.kill('SIGKILL');
          clearTimeout(bound);
          resolve(true);
        }
      });
    });
    watcher?.close();
    child.kill('SIGKILL');
    expect(sawCheckpoint, 'the child checkpointed within 30 s').toBe(true);
  } else {
    await new Promise((resolve) => setTimeout(resolve, killAfterMs));
    child.kill('SIGKILL');
  }
  const exit = await exited;
  expect(exit.signal, `child should die by SIGKILL, stderr: ${stderr}`).toBe('SIGKILL');
  return log;
}

describe('outbox store survives kill -9', () => {
  it(`keeps every acknowledged row across ${MIN_ROUNDS}+ random SIGKILLs`, async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'outbox-crash-'));
    const file = path.join(dir, 'data', 'outbox.db');
    const logger = createMemoryLogger({ level: 'warn' });
    // What must be in the store: acknowledged appends minus removes the child issued.
    const expected = new Map<number, string>();
    const mayBeGone = new Set<number>(); // remove issued (acknowledged or not)
    const mustBeGone = new Set<number>(); // remove acknowledged
    const minAttempts = new Map<number, number>();
    let totalAcked = 0;
    const started = Date.now();
    let rounds = 0;
    let killedMidSnapshot = 0; // the child died while writing a checkpoint's temp snapshot
    let checkpointKills = 0; // rounds killed on purpose the moment a checkpoint began its snapshot
    try {
      while (rounds < MIN_ROUNDS || (rounds < MAX_ROUNDS && Date.now() - started < BUDGET_MS)) {
        // Every third round dies inside a checkpoint on purpose; the others at a random moment.
        const killAfter = rounds % 3 === 2 ? ('checkpoint' as const) : 20 + Math.floor(Math.random() * 280);
        if (killAfter === 'checkpoint') checkpointKills++;
        const log = await runChild(file, rounds, killAfter);
        rounds++;
        for (const [seq, id] of log.appended) {
          expect(expected.has(seq) || mustBeGone.has(seq), `seq ${seq} acknowledged twice (reused)`).toBe(false);
          expected.set(seq, id);
        }
        totalAcked += log.appended.size;
        for (const seq of log.removeIntents) mayBeGone.add(seq);
        for (const seq of log.removed) {
          mustBeGone.add(seq);
          expected.delete(seq);
        }
        for (const [seq, attempts] of log.updates) minAttempts.set(seq, Math.max(minAttempts.get(seq) ?? 0, attempts));

        if (fs.existsSync(`${file}.tmp`)) killedMidSnapshot++;
        const store = createSqlJsOutboxStore({ clock: createSystemClock(), path: file, logger });
        const rows = await store.list({ state: 'pending', limit: 1_000_000 });
        const where = `round ${rounds} (killed ${killAfter === 'checkpoint' ? 'inside a checkpoint' : `after ${killAfter} ms`})`;
        const bySeq = new Map(rows.map((r) => [r.seq, r]));
        for (let k = 1; k < rows.length; k++) expect(rows[k]!.seq, `${where}: FIFO order`).toBeGreaterThan(rows[k - 1]!.seq);
        for (const [seq, id] of expected) {
          const got = bySeq.get(seq);
          if (!got && mayBeGone.has(seq)) {
            expected.delete(seq); // its remove was issued and reached the disk, though not acknowledged
            continue;
          }
          expect(got, `${where}: acknowledged seq ${seq} (${id}) lost`).toBeDefined();
          expect(got!.idempotencyKey, `${where}: seq ${seq} holds another event`).toBe(id);
          expect(got!.payloadJson, `${where}: seq ${seq} payload changed`).toBe(payloadFor(id));
          const attempts = minAttempts.get(seq);
          if (attempts !== undefined) expect(got!.attempts, `${where}: seq ${seq} lost an update`).toBeGreaterThanOrEqual(attempts);
        }
        for (const seq of mustBeGone) expect(bySeq.has(seq), `${where}: removed seq ${seq} came back`).toBe(false);
        // No gaps: below the highest stored seq, every missing seq is one the child removed.
        const maxStored = rows.at(-1)?.seq ?? 0;
        for (let seq = 1; seq <= maxStored; seq++) {
          if (!bySeq.has(seq)) expect(mayBeGone.has(seq), `${where}: gap at seq ${seq}`).toBe(true);
        }
        // Unacknowledged rows that did reach the disk are kept; adopt them so later rounds check them too.
        for (const row of rows) if (!expected.has(row.seq)) expected.set(row.seq, row.idempotencyKey);
        await store.close?.();
      }
      console.info(
        `outbox crash test: ${rounds} SIGKILLs (${checkpointKills} at a checkpoint's start), ${totalAcked} acknowledged appends checked, ${killedMidSnapshot} kill(s) left a temp snapshot behind`,
      );
      expect(checkpointKills).toBeGreaterThanOrEqual(Math.floor(MIN_ROUNDS / 3));
      expect(rounds).toBeGreaterThanOrEqual(MIN_ROUNDS);
      expect(totalAcked).toBeGreaterThan(rounds * 5); // the children really did work before dying
      expect(logger.entries.filter((e) => e.level === 'fatal' || e.level === 'error')).toEqual([]);
      expect(fs.readdirSync(path.dirname(file)).filter((f) => f.includes('.corrupt-'))).toEqual([]);
      for (const f of fs.readdirSync(path.dirname(file))) {
        expect(fs.statSync(path.join(path.dirname(file), f)).mode & 0o777, f).toBe(0o600);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 180_000);
});
