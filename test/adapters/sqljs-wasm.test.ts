// The sql.js store takes its WebAssembly binary from the host (a bundle has no sql-wasm.wasm next
// to sql.js). sql.js initialises once per process and keeps the first result, so this file holds
// one initialisation (vitest runs each file in its own module graph); the bundle test
// (test/integration/bundle.test.ts) covers `wasmBinary` where the default cannot work.
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createSqlJsOutboxStore } from '../../src/adapters/sqljs-outbox-store/index.js';
import { createSystemClock } from '../../src/adapters/system-clock.js';
import { InvalidArgumentError } from '../../src/errors/index.js';

const dir = await mkdtemp(join(tmpdir(), 'sqljs-wasm-'));
afterAll(() => rm(dir, { recursive: true, force: true }));
const clock = createSystemClock();
const shippedWasm = createRequire(import.meta.url).resolve('sql.js/dist/sql-wasm.wasm');

describe('sql.js store: the host gives the wasm', () => {
  it('locateFile is asked for sql-wasm.wasm and its answer is used', async () => {
    // A copy under another name: if sql.js fell back to its default it would not read this file.
    const elsewhere = join(dir, 'moved.wasm');
    await copyFile(shippedWasm, elsewhere);
    const asked: string[] = [];
    const store = createSqlJsOutboxStore({
      path: join(dir, 'outbox.sqlite'),
      clock,
      locateFile: (file) => (asked.push(file), file === 'sql-wasm.wasm' ? elsewhere : join(dir, 'missing', file)),
    });
    await store.append([{ kind: 'message', payloadJson: '{"to":"bob","body":"hi"}', idempotencyKey: 'k1', occurredAt: 1 }]);
    expect(asked).toContain('sql-wasm.wasm');
    expect((await store.counts()).pending).toBe(1);
    await store.close?.();
  });

  it('a wasmBinary that is not bytes or a locateFile that is not a function is an InvalidArgumentError', () => {
    expect(() => createSqlJsOutboxStore({ path: join(dir, 'a.sqlite'), clock, wasmBinary: 'sql-wasm.wasm' as never })).toThrow(InvalidArgumentError);
    expect(() => createSqlJsOutboxStore({ path: join(dir, 'b.sqlite'), clock, locateFile: '/x.wasm' as never })).toThrow(/locateFile must be a function/);
  });
});
