// Checkpoints must not stall the event loop (issue 9 item 8): the image is exported by a replica
// in a worker thread, not on the main thread; when the worker fails, the main thread exports
// instead and nothing is lost.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createSqlJsOutboxStore } from '../../src/adapters/sqljs-outbox-store/index.js';
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
const row = (n: number) => ({ kind: 'message', payloadJson: JSON.stringify({ n, pad: 'x'.repeat(300), bom: '\ufeff', lone: '\ud800' }), idempotencyKey: `k${n}`, occurredAt: n });

describe('sql.js outbox store: checkpoint export off the main thread', () => {
  it('checkpoints after open never export on the main thread, and every row survives', async () => {
    const t = setup();
    const mainExports = vi.spyOn(SnapshotDb.prototype, 'exportImage');
    const store = t.open();
    await store.counts(); // open (its own repair checkpoint may export here)
    mainExports.mockClear();
    const before = fs.statSync(t.file).ino;
    for (let i = 1; i <= 300; i++) await store.append([row(i)]);
    await store.update(5, { attempts: 2, lastError: 'e\ufeff' });
    await store.remove([1, 2, 3]);
    await store.close?.();
    expect(fs.statSync(t.file).ino).not.toBe(before); // snapshots were rewritten
    expect(mainExports).not.toHaveBeenCalled();
    const again = t.open();
    const rows = await again.list({ state: 'pending', limit: 1000 });
    expect(rows.map((r) => r.seq)).toEqual(Array.from({ length: 297 }, (_, i) => i + 4));
    expect(rows[1]).toMatchObject({ seq: 5, attempts: 2, lastError: 'e\ufeff', payloadJson: row(5).payloadJson });
    await again.close?.();
    expect(t.logger.entries.filter((e) => e.level === 'error' || e.level === 'fatal')).toEqual([]);
  });

  it('a failing worker falls back to a main-thread export: nothing lost', async () => {
    const t = setup();
    vi.spyOn(ExportReplica.prototype, 'export').mockRejectedValue(new Error('worker gone'));
    const mainExports = vi.spyOn(SnapshotDb.prototype, 'exportImage');
    const store = t.open();
    for (let i = 1; i <= 200; i++) await store.append([row(i)]);
    await store.close?.();
    expect(mainExports.mock.calls.length).toBeGreaterThan(1);
    const again = t.open();
    expect((await again.list({ state: 'pending', limit: 1000 })).length).toBe(200);
    await again.close?.();
  });
});
