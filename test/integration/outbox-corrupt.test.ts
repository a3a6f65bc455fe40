// A corrupt outbox file must never crash-loop the runner (SPEC §3): the bad file is kept aside
// with its original bytes, the store starts over, and exactly one FATAL line says what was lost.
//
// What survives, by case (documented in recovery.ts and createSqlJsOutboxStore's remarks). Rule: a
// damaged region loses at most the records inside it.
// - a damaged snapshot: the previous generation plus the journals since — nothing lost (ERROR line);
// - both generations damaged, or garbage with no previous generation: the store starts empty;
// - a journal record with a flipped byte: that record alone (its checksum fails), its bytes kept aside;
// - a format-1 journal (no checksums, before issue 9): read, then migrated by a checkpoint.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createSqlJsOutboxStore } from '../../src/adapters/sqljs-outbox-store/index.js';
import { createFakeClock } from '../../src/testing/fake-clock.js';
import type { Logger, LogLevel } from '../../src/ports/logger.js';
import type { NewOutboxRow, OutboxStore } from '../../src/ports/outbox-store.js';
import { abandonOutboxLock } from '../helpers/outbox-lock.js';

/** A Logger that only records lines. */
function recordingLogger() {
  const lines: Array<{ level: LogLevel; component: string; message: string }> = [];
  const at = (level: LogLevel) => (component: string, message: string) => void lines.push({ level, component, message });
  const logger: Logger = {
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    fatal: at('fatal'),
    getLevel: () => 'debug',
    setLevel: () => undefined,
  };
  return { logger, lines, fatals: () => lines.filter((l) => l.level === 'fatal') };
}

const STAMP = '2026-01-01T00-00-00.000Z'; // createFakeClock()'s start, as the quarantine name spells it
const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

function setup() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'outbox-corrupt-'));
  dirs.push(dir);
  const file = path.join(dir, 'outbox.db');
  const log = recordingLogger();
  const open = () => createSqlJsOutboxStore({ path: file, logger: log.logger, clock: createFakeClock() });
  return { dir, file, journal: `${file}.journal`, log, open };
}

const row = (n: number): NewOutboxRow => ({ kind: 'message', payloadJson: JSON.stringify({ n }), idempotencyKey: `k${n}`, occurredAt: n });
const pendingNs = async (store: OutboxStore) =>
  (await store.list({ state: 'pending', limit: 1000 })).map((r) => (JSON.parse(r.payloadJson) as { n: number }).n);

/** After recovery the store must work and stay recovered: reopening logs no second FATAL. */
async function expectUsableAfterwards(t: ReturnType<typeof setup>, store: OutboxStore, expected: number[]) {
  await store.append([row(1000)]);
  await store.close?.();
  const again = t.open();
  expect(await pendingNs(again)).toEqual([...expected, 1000]);
  await again.close?.();
  expect(t.log.fatals()).toHaveLength(1);
}

/** Like expectUsableAfterwards, for a recovery that lost nothing. */
async function expectUsableAfterwardsNoFatal(t: ReturnType<typeof setup>, store: OutboxStore, expected: number[]) {
  await store.append([row(1000)]);
  await store.close?.();
  const again = t.open();
  expect(await pendingNs(again)).toEqual([...expected, 1000]);
  await again.close?.();
  expect(t.log.fatals()).toHaveLength(0);
}

describe('corrupt outbox files are quarantined, not crash-looped', () => {
  it('garbage bytes at the store path: starts empty, keeps the bytes aside, logs one FATAL', async () => {
    const t = setup();
    const garbage = Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 7919) % 256));
    fs.writeFileSync(t.file, garbage);
    const store = t.open();
    expect(await store.counts()).toEqual({ pending: 0, poisoned: 0, oldestPendingAt: undefined });
    const aside = `${t.file}.corrupt-${STAMP}`;
    expect(fs.readFileSync(aside).equals(garbage)).toBe(true);
    const [fatal] = t.log.fatals();
    expect(t.log.fatals()).toHaveLength(1);
    expect(fatal!.component).toBe('outbox');
    expect(fatal!.message).toContain(aside);
    expect(fatal!.message).toContain('5000 bytes');
    expect(fatal!.message).toMatch(/started empty/);
    await expectUsableAfterwards(t, store, []);
  });

  it('a truncated snapshot falls back to the previous generation plus the journals: nothing lost', async () => {
    const t = setup();
    const first = t.open();
    for (let i = 1; i <= 100; i++) await first.append([row(i)]);
    await first.close?.(); // checkpoint: generation 2 holds rows 1-100
    const second = t.open();
    for (let i = 101; i <= 200; i++) await second.append([row(i)]);
    await second.remove([1, 2]);
    await second.close?.(); // generation 3; generation 2 is kept as .prev with the journal since
    expect(fs.existsSync(`${t.file}.prev`)).toBe(true);
    const full = fs.readFileSync(t.file);
    const truncated = full.subarray(0, Math.floor(full.length / 2));
    fs.writeFileSync(t.file, truncated);

    const store = t.open();
    const expected = Array.from({ length: 198 }, (_, i) => i + 3);
    expect(await pendingNs(store)).toEqual(expected);
    expect(fs.readFileSync(`${t.file}.corrupt-${STAMP}`).equals(truncated)).toBe(true);
    expect(t.log.fatals()).toHaveLength(0);
    const errors = t.log.lines.filter((l) => l.level === 'error');
    expect(errors).toHaveLength(1);
    expect(errors[0]!.message).toMatch(/truncated.*loaded the previous generation 2.*nothing lost|nothing lost.*truncated.*previous generation 2/);
    await store.append([row(1000)]);
    await store.close?.();
    const again = t.open();
    expect(await pendingNs(again)).toEqual([...expected, 1000]);
    await again.close?.();
    expect(t.log.lines.filter((l) => l.level === 'error' || l.level === 'fatal')).toHaveLength(1);
  });

  it('both snapshot generations damaged: starts empty, keeps both files and the journals aside, one FATAL', async () => {
    const t = setup();
    const first = t.open();
    for (let i = 1; i <= 200; i++) await first.append([row(i)]);
    await first.close?.();
    const full = fs.readFileSync(t.file);
    const truncated = full.subarray(0, Math.floor(full.length / 2));
    fs.writeFileSync(t.file, truncated);
    fs.writeFileSync(`${t.file}.prev`, Buffer.from('not a database at all, not even close'.repeat(10)));

    const store = t.open();
    expect(await pendingNs(store)).toEqual([]);
    expect(fs.readFileSync(`${t.file}.corrupt-${STAMP}`).equals(truncated)).toBe(true);
    expect(fs.existsSync(`${t.file}.prev.corrupt-${STAMP}`)).toBe(true);
    expect(fs.existsSync(`${t.journal}.prev.corrupt-${STAMP}`)).toBe(true); // rows 1-200 were in it
    expect(t.log.fatals()).toHaveLength(1);
    expect(t.log.fatals()[0]!.message).toMatch(/truncated/);
    // Seqs seen in the quarantined journal are not reused.
    const [next] = await store.append([row(1000)]);
    expect(next!.seq).toBeGreaterThan(200);
    await store.close?.();
  });

  it('a snapshot cut at a page boundary (header intact) is still detected as truncated', async () => {
    const t = setup();
    const first = t.open();
    for (let i = 1; i <= 300; i++) await first.append([{ ...row(i), payloadJson: JSON.stringify({ n: i, pad: 'p'.repeat(100) }) }]);
    await first.close?.();
    const full = fs.readFileSync(t.file);
    fs.writeFileSync(t.file, full.subarray(0, 4096 * 2));
    fs.rmSync(`${t.file}.prev`); // no previous generation to fall back to
    const store = t.open();
    expect(await pendingNs(store)).toEqual([]);
    expect(fs.existsSync(`${t.file}.corrupt-${STAMP}`)).toBe(true);
    expect(t.log.fatals()).toHaveLength(1);
    await store.close?.();
  });

  it('a flipped byte inside one journal record loses only that record; its neighbours replay', async () => {
    const t = setup();
    const writer = t.open();
    await writer.append([row(1), row(2)]);
    await writer.close?.(); // rows 1-2 in the snapshot
    const crashed = t.open();
    for (let i = 3; i <= 8; i++) await crashed.append([row(i)]); // rows 3-8 only in the journal
    await crashed.update(7, { attempts: 3, lastError: 'x' });
    // Line 1 is the header, lines 2..7 append rows 3..8, line 8 updates row 7. Flip one byte
    // inside row 6's payload (line 5): still valid JSON, so only the checksum can tell.
    const bytes = fs.readFileSync(t.journal);
    const lines = bytes.toString('utf8').split('\n');
    expect(lines).toHaveLength(9); // header + 7 records + '' after the final newline
    const at = bytes.indexOf('{\\"n\\":6}') + 7; // the digit 6
    expect(bytes[at]).toBe(0x36);
    const damaged = Buffer.from(bytes);
    damaged[at] = 0x39; // 6 -> 9
    fs.writeFileSync(t.journal, damaged);
    abandonOutboxLock(t.file); // `crashed` never closes

    const store = t.open();
    expect(await pendingNs(store)).toEqual([1, 2, 3, 4, 5, 7, 8]);
    const [seventh] = (await store.list({ state: 'pending', limit: 100 })).filter((r) => r.idempotencyKey === 'k7');
    expect(seventh).toMatchObject({ attempts: 3, lastError: 'x' }); // the record after the bad one replayed
    const aside = `${t.journal}.corrupt-${STAMP}`;
    expect(fs.readFileSync(aside, 'utf8')).toBe(`${damaged.toString('utf8').split('\n')[4]}\n`); // that record alone
    const fatals = t.log.fatals();
    expect(fatals).toHaveLength(1);
    expect(fatals[0]!.message).toMatch(/line 5 is damaged \(checksum mismatch\); lost that record alone: an append of 1 row\(s\) \(seq 6\)/);
    expect(fatals[0]!.message).toMatch(/with 7 recovered row\(s\)/);
    await expectUsableAfterwards(t, store, [1, 2, 3, 4, 5, 7, 8]);
  });

  it('an unparseable record is skipped alone too, never blamed on its neighbours', async () => {
    const t = setup();
    const writer = t.open();
    for (let i = 1; i <= 4; i++) await writer.append([row(i)]);
    const lines = fs.readFileSync(t.journal, 'utf8').split('\n');
    lines[2] = `${lines[2]!.slice(0, 12)}##garbage${lines[2]!.slice(12)}`; // row 2's record
    fs.writeFileSync(t.journal, lines.join('\n'));
    abandonOutboxLock(t.file);
    const store = t.open();
    expect(await pendingNs(store)).toEqual([1, 3, 4]);
    expect(t.log.fatals()).toHaveLength(1);
    expect(t.log.fatals()[0]!.message).toMatch(/line 3 is damaged/);
    await expectUsableAfterwards(t, store, [1, 3, 4]);
  });

  it('a format-1 store (journal without checksums) opens with nothing lost and is migrated', async () => {
    const t = setup();
    const writer = t.open();
    await writer.append([row(1)]);
    await writer.close?.(); // a snapshot of generation 2 holding row 1
    // The journal as the format-1 code wrote it: header v 1, plain JSON lines.
    const v1 = [
      JSON.stringify({ journal: 'agent-relay-outbox-journal', v: 1, gen: 2 }),
      JSON.stringify({ a: [[2, 'message', '{"n":2}', 'k2', null, 2]] }),
      JSON.stringify({ a: [[3, 'message', '{"n":3}', 'k3', null, 3]] }),
      JSON.stringify({ u: 2, p: { attempts: 1 } }),
      JSON.stringify({ r: [1] }),
      '',
    ].join('\n');
    fs.writeFileSync(t.journal, v1);
    const store = t.open();
    expect(await pendingNs(store)).toEqual([2, 3]);
    expect(t.log.lines.filter((l) => l.level !== 'debug' && l.level !== 'info')).toEqual([]);
    // Migrated: the journal is format 2 now.
    expect(JSON.parse(fs.readFileSync(t.journal, 'utf8').split('\n')[0]!)).toMatchObject({ v: 2 });
    await expectUsableAfterwardsNoFatal(t, store, [2, 3]);
  });

  it('a journal without its snapshot is quarantined (its operations have no base)', async () => {
    const t = setup();
    const writer = t.open();
    await writer.append([row(1)]);
    fs.rmSync(t.file);
    abandonOutboxLock(t.file); // `writer` never closes
    const journalBytes = fs.readFileSync(t.journal);
    const store = t.open();
    expect(await pendingNs(store)).toEqual([]);
    expect(fs.readFileSync(`${t.journal}.corrupt-${STAMP}`).equals(journalBytes)).toBe(true);
    expect(t.log.fatals()).toHaveLength(1);
    // Seqs seen in the lost journal are still not reused.
    const [next] = await store.append([row(2)]);
    expect(next!.seq).toBeGreaterThan(1);
    await store.close?.();
  });
});
