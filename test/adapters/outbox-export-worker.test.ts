// Checkpoints must not stall the event loop (issue 9 item 8): the image is exported by a replica
// in a worker thread, not on the main thread; when the worker fails, the main thread exports
// instead and nothing is lost.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createSqlJsOutboxStore } from '../../src/adapters/sqljs-outbox-store/index.js';
import { REPLICA_MIN_BYTES } from '../../src/adapters/sqljs-outbox-store/store.js';
import { SnapshotDb } from '../../src/adapters/sqljs-outbox-store/snapshot.js';
import { ExportReplica } from '../../src/adapters/sqljs-outbox-store/export-worker.js';
import { createSystemClock } from '../../src/adapters/system-clock.js';
import { createMemoryLogger } from '../../src/testing/memory-logger.js';

const dirs: string[] = [];
afterEach(() => {
  vi.restoreAllMocks();
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

function setup() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'outbox-export-'));
  dirs.push(dir);
  const file = path.join(dir, 'outbox.db');
  const logger = createMemoryLogger({ level: 'debug' });
  // A tiny journal limit: the threshold is then the snapshot size, so checkpoints come often.
  const open = () => createSqlJsOutboxStore({ clock: createSystemClock(), path: file, logger, journalLimitBytes: 1024 });
  return { file, logger, open };
}
const N = 2000;
const row = (n: number) => ({ kind: 'message', payloadJson: JSON.stringify({ n, pad: 'x'.repeat(300), bom: '\ufeff', lone: '\ud800' }), idempotencyKey: `k${n}`, occurredAt: n });

describe('sql.js outbox store: checkpoint export off the main thread', () => {
  it('once the image is big, checkpoints export in the worker, not on the main thread, and every row survives', async () => {
    const t = setup();
    const mainExports = vi.spyOn(SnapshotDb.prototype, 'exportImage');
    const replicaExports = vi.spyOn(ExportReplica.prototype, 'export');
    const store = t.open();
    // Past REPLICA_MIN_BYTES: 2,000 rows of ~400 bytes, appended 100 per call.
    for (let i = 1; i <= N; i += 100) await store.append(Array.from({ length: 100 }, (_, k) => row(i + k)));
    await store.update(5, { attempts: 2, lastError: 'e\ufeff' });
    await store.close?.(); // a checkpoint: the image is now past the threshold
    expect(fs.statSync(t.file).size).toBeGreaterThanOrEqual(REPLICA_MIN_BYTES);
    const second = t.open();
    await second.counts();
    mainExports.mockClear();
    const before = fs.statSync(t.file).ino;
    // The first big checkpoint exports here once and seeds the replica; every later one is the worker's.
    // Checkpoints come every ~image size of journal: about 1.8 MB here, in 10-row appends.
    for (let i = 0; i < 4000; i += 10) await second.append(Array.from({ length: 10 }, (_, k) => row(N + 1 + i + k)));
    await second.remove([1, 2, 3]);
    await second.close?.();
    expect(fs.statSync(t.file).ino).not.toBe(before); // snapshots were rewritten
    expect(mainExports.mock.calls.length).toBeLessThanOrEqual(1);
    const checkpointsInWorker = replicaExports.mock.calls.length;
    expect(checkpointsInWorker).toBeGreaterThanOrEqual(1);
    const again = t.open();
    const rows = await again.list({ state: 'pending', limit: 10_000 });
    expect(rows.map((r) => r.seq)).toEqual(Array.from({ length: N + 4000 - 3 }, (_, i) => i + 4));
    expect(rows[1]).toMatchObject({ seq: 5, attempts: 2, lastError: 'e\ufeff', payloadJson: row(5).payloadJson });
    await again.close?.();
    expect(t.logger.entries.filter((e) => e.level === 'error' || e.level === 'fatal')).toEqual([]);
  });

  it('a small database never starts a worker', async () => {
    const t = setup();
    const replicaExports = vi.spyOn(ExportReplica.prototype, 'export');
    const store = t.open();
    for (let i = 1; i <= 300; i++) await store.append([row(i)]);
    await store.close?.();
    expect(replicaExports).not.toHaveBeenCalled();
  });

  it('a failing worker falls back to a main-thread export: nothing lost', async () => {
    const t = setup();
    vi.spyOn(ExportReplica.prototype, 'export').mockRejectedValue(new Error('worker gone'));
    const mainExports = vi.spyOn(SnapshotDb.prototype, 'exportImage');
    const store = t.open();
    for (let i = 1; i <= N; i += 100) await store.append(Array.from({ length: 100 }, (_, k) => row(i + k)));
    for (let i = 1; i <= 600; i++) await store.append([row(N + i)]);
    await store.close?.();
    expect(mainExports.mock.calls.length).toBeGreaterThan(2);
    const again = t.open();
    expect((await again.list({ state: 'pending', limit: 10_000 })).length).toBe(N + 600);
    await again.close?.();
  });
});
