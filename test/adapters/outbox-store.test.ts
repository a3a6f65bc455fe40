import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createMemoryOutboxStore } from '../../src/adapters/memory-outbox-store.js';
import { createSqlJsOutboxStore, type SqlJsOutboxStoreOptions } from '../../src/adapters/sqljs-outbox-store/index.js';
import { runOutboxStoreConformance } from '../../src/testing/conformance/outbox-store.js';
import { createMemoryLogger } from '../../src/testing/memory-logger.js';
import type { OutboxStore } from '../../src/ports/outbox-store.js';
import { createSystemClock } from '../../src/adapters/system-clock.js';
import { abandonOutboxLock } from '../helpers/outbox-lock.js';
import { createFakeClock } from '../../src/testing/fake-clock.js';
import { SnapshotDb } from '../../src/adapters/sqljs-outbox-store/snapshot.js';

const tempDir = () => fs.mkdtempSync(path.join(os.tmpdir(), 'outbox-store-'));

runOutboxStoreConformance('memory', () => ({ store: createMemoryOutboxStore() }), { describe, it });

runOutboxStoreConformance('sql.js', () => {
  const dir = tempDir();
  const open = () => createSqlJsOutboxStore({ clock: createSystemClock(), path: path.join(dir, 'outbox.db'), logger: createMemoryLogger() });
  let current = open();
  return {
    store: current,
    reopen: async () => {
      await current.close?.();
      current = open();
      return current;
    },
    cleanup: async () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}, { describe, it });

describe('sql.js outbox store specifics', () => {
  const setup = (options: Partial<SqlJsOutboxStoreOptions> = {}) => {
    const dir = tempDir();
    const file = path.join(dir, 'nested', 'outbox.db');
    const logger = createMemoryLogger({ level: 'debug' });
    const open = () => createSqlJsOutboxStore({ clock: createSystemClock(), path: file, logger, ...options });
    return { dir, file, logger, open, done: () => fs.rmSync(dir, { recursive: true, force: true }) };
  };
  const row = (n: number, size = 10) => ({
    kind: 'session',
    payloadJson: JSON.stringify({ n, pad: 'x'.repeat(size) }),
    idempotencyKey: `k${n}`,
    occurredAt: n,
  });
  const allPending = (store: OutboxStore) => store.list({ state: 'pending', limit: 1_000_000 });

  it('answers a burst before writing it into sql.js, then writes it behind in slices on later macrotasks', async () => {
    const clock = createFakeClock();
    const t = setup({ clock });
    const applied: number[] = [];
    const original = SnapshotDb.prototype.apply;
    SnapshotDb.prototype.apply = function (this: SnapshotDb, ops) {
      applied.push(ops.length);
      return original.call(this, ops);
    };
    try {
      const store = t.open();
      await store.counts();
      const rows = await Promise.all(Array.from({ length: 2000 }, (_, n) => store.append([row(n + 1)])));
      // Acknowledged (durable in the journal) before any sql.js work: that is write-behind's point.
      expect(applied.filter((n) => n > 0)).toEqual([]);
      for (let i = 0; i < 5; i++) await clock.advanceAsync(0);
      expect(applied.filter((n) => n > 0).length).toBeGreaterThan(1); // more than one slice
      expect(Math.max(...applied)).toBeLessThanOrEqual(64);
      // Rows applied in a slice and then removed leave SQL too; rows still queued are cancelled.
      await store.remove(rows.filter((_, i) => i % 2 === 0).map(([r]) => r!.seq));
      const left = await allPending(store);
      expect(left.map((r) => r.seq)).toEqual(rows.filter((_, i) => i % 2 === 1).map(([r]) => r!.seq));
      await store.close?.();
      const again = t.open();
      expect((await allPending(again)).map((r) => r.seq)).toEqual(left.map((r) => r.seq));
      await again.close?.();
    } finally {
      SnapshotDb.prototype.apply = original;
      t.done();
    }
  });

  it('creates files 0600 and a missing parent directory 0700', async () => {
    const t = setup();
    try {
      const store = t.open();
      await store.append([row(1)]);
      expect(fs.statSync(path.dirname(t.file)).mode & 0o777).toBe(0o700);
      expect(fs.statSync(t.file).mode & 0o777).toBe(0o600);
      expect(fs.statSync(`${t.file}.journal`).mode & 0o777).toBe(0o600);
      await store.close?.();
      expect(fs.statSync(t.file).mode & 0o777).toBe(0o600);
      expect(fs.statSync(`${t.file}.journal`).mode & 0o777).toBe(0o600);
    } finally {
      t.done();
    }
  });

  it('checkpoints when the journal outgrows its limit, and keeps every row across them', async () => {
    const t = setup({ journalLimitBytes: 4096 });
    try {
      const store = t.open();
      const acked: number[] = [];
      for (let i = 0; i < 300; i++) acked.push(...(await store.append([row(i, 200)])).map((r) => r.seq));
      await store.remove(acked.slice(0, 100));
      // The journal was reset by checkpoints: it stays near the limit instead of holding ~70 KiB.
      expect(fs.statSync(`${t.file}.journal`).size).toBeLessThan(64 * 1024);
      expect(fs.statSync(t.file).size).toBeGreaterThan(4096);
      // Simulate a crash: a second store reads the files without the first one closing.
      abandonOutboxLock(t.file);
      const reader = t.open();
      expect((await allPending(reader)).map((r) => r.seq)).toEqual(acked.slice(100));
      await reader.close?.();
    } finally {
      t.done();
    }
  });

  it('ignores a torn last journal line (never acknowledged) and keeps appending after it', async () => {
    const t = setup();
    try {
      const store = t.open();
      const rows = await store.append([row(1), row(2)]);
      // Crash mid-write: half of a line, no newline.
      fs.appendFileSync(`${t.file}.journal`, '{"a":[[3,"session","{\\"n\\":3}","k3",null,3]');
      abandonOutboxLock(t.file);
      const reopened = t.open();
      expect((await allPending(reopened)).map((r) => r.seq)).toEqual(rows.map((r) => r.seq));
      const [next] = await reopened.append([row(4)]);
      expect(t.logger.entries.some((e) => e.level === 'warn' && /torn/.test(e.message))).toBe(true);
      expect(t.logger.entries.some((e) => e.level === 'fatal')).toBe(false);
      // The tail was cut before appending, so the new line is readable after another "crash".
      abandonOutboxLock(t.file);
      const third = t.open();
      expect((await allPending(third)).map((r) => r.seq)).toEqual([...rows.map((r) => r.seq), next!.seq]);
      await third.close?.();
    } finally {
      t.done();
    }
  });

  it('replays the journal over the snapshot after a crash (no close)', async () => {
    const t = setup();
    try {
      const store = t.open();
      const rows = await store.append([row(1), row(2), row(3)]);
      await store.update(rows[1]!.seq, { attempts: 4, state: 'poisoned', lastError: 'x' });
      await store.remove([rows[0]!.seq]);
      abandonOutboxLock(t.file);
      const reopened = t.open();
      expect((await allPending(reopened)).map((r) => r.seq)).toEqual([rows[2]!.seq]);
      const [poisoned] = await reopened.list({ state: 'poisoned', limit: 5 });
      expect(poisoned).toMatchObject({ seq: rows[1]!.seq, attempts: 4, lastError: 'x' });
      await reopened.close?.();
    } finally {
      t.done();
    }
  });

  it('rejects with StoreError when the directory cannot be created, and retries on the next call', async () => {
    const dir = tempDir();
    try {
      const blocker = path.join(dir, 'not-a-dir');
      fs.writeFileSync(blocker, 'x');
      const store = createSqlJsOutboxStore({ clock: createSystemClock(), path: path.join(blocker, 'outbox.db'), logger: createMemoryLogger() });
      await expect(store.append([row(1)])).rejects.toMatchObject({ name: 'StoreError', code: 'STORE_FAILURE' });
      await expect(store.counts()).rejects.toThrow(/cannot open outbox store at .*not-a-dir/);
      fs.rmSync(blocker);
      expect((await store.append([row(1)])).length).toBe(1);
      await store.close?.();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rejects bad input with InvalidArgumentError and keeps stored rows', async () => {
    const t = setup();
    try {
      const store = t.open();
      await store.append([row(1)]);
      await expect(store.append([{ ...row(2), payloadJson: 5 as unknown as string }])).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      await expect(store.update(1, { state: 'done' as 'pending' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      expect(() => createSqlJsOutboxStore({ clock: createSystemClock(), path: '' })).toThrow(/path/);
      expect((await allPending(store)).length).toBe(1);
      await store.close?.();
    } finally {
      t.done();
    }
  });
});
