// One writer per sql.js outbox store (issue 9 item 2): two writers on one journal silently lose
// each other's acknowledged rows, so a second opener is refused with STORE_LOCKED naming the
// holder's pid, and a lock left by a killed process is taken over.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { createSqlJsOutboxStore } from '../../src/adapters/sqljs-outbox-store/index.js';
import { createSystemClock } from '../../src/adapters/system-clock.js';
import { createMemoryLogger } from '../../src/testing/memory-logger.js';
import type { NewOutboxRow } from '../../src/ports/outbox-store.js';
import { exitedPid } from '../helpers/outbox-lock.js';

const CHILD = fileURLToPath(new URL('../fixtures/outbox-crash/child.ts', import.meta.url));
const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

function setup() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'outbox-lock-'));
  dirs.push(dir);
  const file = path.join(dir, 'outbox.db');
  const logger = createMemoryLogger({ level: 'debug' });
  const open = () => createSqlJsOutboxStore({ clock: createSystemClock(), path: file, logger });
  return { file, lock: `${file}.lock`, logger, open };
}
const row = (n: number): NewOutboxRow => ({ kind: 'message', payloadJson: JSON.stringify({ n }), idempotencyKey: `k${n}`, occurredAt: n });

describe('sql.js outbox store: one writer', () => {
  it('a second store object in the same process is refused with STORE_LOCKED; the first is unharmed; close releases', async () => {
    const t = setup();
    const first = t.open();
    await first.append([row(1)]);
    expect(fs.statSync(t.lock).mode & 0o777).toBe(0o600);
    const second = t.open();
    const refused = await second.append([row(2)]).then(() => undefined, (error: unknown) => error);
    expect(refused).toMatchObject({ name: 'StoreError', code: 'STORE_LOCKED', data: { pid: process.pid } });
    expect((refused as Error).message).toMatch(new RegExp(`in use by pid ${process.pid} \\(this process`));
    expect((refused as Error).message).not.toContain('\n');
    // The holder keeps working and nothing it stored was touched.
    await first.append([row(3)]);
    expect((await first.list({ state: 'pending', limit: 10 })).map((r) => r.idempotencyKey)).toEqual(['k1', 'k3']);
    await first.close?.();
    expect(fs.existsSync(t.lock)).toBe(false);
    // Once the holder closed, the refused store can open (the next call retries).
    expect((await second.list({ state: 'pending', limit: 10 })).map((r) => r.idempotencyKey)).toEqual(['k1', 'k3']);
    await second.close?.();
    // Use after close: a clear error with a code.
    await expect(second.counts()).rejects.toMatchObject({ code: 'CLOSED' });
  });

  it('a refused opener closing does not remove the holder\'s lock', async () => {
    const t = setup();
    const first = t.open();
    await first.append([row(1)]);
    const second = t.open();
    await expect(second.counts()).rejects.toMatchObject({ code: 'STORE_LOCKED' });
    await second.close?.();
    await expect(t.open().counts()).rejects.toMatchObject({ code: 'STORE_LOCKED' });
    await first.close?.();
  });

  it('another process holding the store: refused with its pid; after it is killed, the lock is taken over', async () => {
    const t = setup();
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, t.file, '0'], { cwd: path.dirname(CHILD), stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
    try {
      await new Promise<void>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          if (out.startsWith('ready\n') && out.includes('\na ')) resolve(); // ready, and one append acknowledged
        });
        child.on('close', () => reject(new Error('child exited before ready')));
      });
      const store = t.open();
      await expect(store.counts()).rejects.toMatchObject({ code: 'STORE_LOCKED', data: { pid: child.pid } });
      await expect(store.counts()).rejects.toThrow(new RegExp(`in use by pid ${child.pid}[^(]`));
      child.kill('SIGKILL');
      await exited;
      const rows = await store.list({ state: 'pending', limit: 1_000_000 });
      expect(rows.length).toBeGreaterThan(0); // the child's acknowledged work is there (a crash child test checks every row)
      expect(t.logger.entries.some((e) => e.level === 'warn' && e.message.includes(`left by pid ${child.pid}`))).toBe(true);
      expect(fs.readFileSync(t.lock, 'utf8')).toMatch(new RegExp(`^${process.pid} `));
      await store.close?.();
    } finally {
      child.kill('SIGKILL');
      await exited;
    }
  }, 30_000);

  it('a stale lock naming a dead pid is taken over, with a warning', async () => {
    const t = setup();
    const first = t.open();
    await first.append([row(1)]);
    await first.close?.();
    const dead = exitedPid();
    fs.writeFileSync(t.lock, `${dead} whatever\n`);
    const store = t.open();
    expect((await store.list({ state: 'pending', limit: 10 })).map((r) => r.idempotencyKey)).toEqual(['k1']);
    expect(t.logger.entries.filter((e) => e.level === 'warn').map((e) => e.message)).toEqual([
      expect.stringContaining(`left by pid ${dead}, which is no longer running`),
    ]);
    await store.close?.();
    expect(fs.existsSync(t.lock)).toBe(false);
  });
});
