// A corrupt outbox file must never crash-loop the runner (SPEC §3): the bad file is kept aside
// with its original bytes, the store starts over, and exactly one FATAL line says what was lost.
//
// What survives, by case (documented in createSqlJsOutboxStore's remarks):
// - garbage or a truncated snapshot: nothing — the store starts empty (its journal, whose
//   operations only make sense on top of that snapshot, is quarantined with it);
// - a corrupt middle journal line: the snapshot plus the journal operations before that line.
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

  it('a truncated snapshot: starts empty, keeps the truncated file and its journal aside', async () => {
    const t = setup();
    const first = t.open();
    for (let i = 1; i <= 200; i++) await first.append([row(i)]);
    await first.close?.(); // checkpoint: the rows now live in the snapshot
    const full = fs.readFileSync(t.file);
    const truncated = full.subarray(0, Math.floor(full.length / 2));
    fs.writeFileSync(t.file, truncated);
    const journalBytes = fs.readFileSync(t.journal);

    const store = t.open();
    expect(await pendingNs(store)).toEqual([]);
    expect(fs.readFileSync(`${t.file}.corrupt-${STAMP}`).equals(truncated)).toBe(true);
    expect(fs.readFileSync(`${t.journal}.corrupt-${STAMP}`).equals(journalBytes)).toBe(true);
    expect(t.log.fatals()).toHaveLength(1);
    expect(t.log.fatals()[0]!.message).toMatch(/truncated/);
    await expectUsableAfterwards(t, store, []);
  });

  it('a snapshot cut at a page boundary (header intact) is still detected as truncated', async () => {
    const t = setup();
    const first = t.open();
    for (let i = 1; i <= 300; i++) await first.append([{ ...row(i), payloadJson: JSON.stringify({ n: i, pad: 'p'.repeat(100) }) }]);
    await first.close?.();
    const full = fs.readFileSync(t.file);
    fs.writeFileSync(t.file, full.subarray(0, 4096 * 2));
    const store = t.open();
    expect(await pendingNs(store)).toEqual([]);
    expect(fs.existsSync(`${t.file}.corrupt-${STAMP}`)).toBe(true);
    expect(t.log.fatals()).toHaveLength(1);
    await store.close?.();
  });

  it('a corrupt middle journal line: keeps the snapshot and the operations before it, quarantines the journal', async () => {
    const t = setup();
    const writer = t.open();
    await writer.append([row(1), row(2)]);
    await writer.close?.(); // rows 1-2 in the snapshot
    const crashed = t.open();
    for (let i = 3; i <= 8; i++) await crashed.append([row(i)]); // rows 3-8 only in the journal
    // Line 1 is the header, lines 2..7 append rows 3..8. Damage the line of row 6 (line 5).
    const lines = fs.readFileSync(t.journal, 'utf8').split('\n');
    expect(lines).toHaveLength(8); // header + 6 ops + '' after the final newline
    lines[4] = lines[4]!.slice(0, 5) + '##garbage' + lines[4]!.slice(5); // '{"a":##garbage[[6,…' is not JSON
    const damaged = Buffer.from(lines.join('\n'));
    fs.writeFileSync(t.journal, damaged);
    abandonOutboxLock(t.file); // `crashed` never closes

    const store = t.open();
    expect(await pendingNs(store)).toEqual([1, 2, 3, 4, 5]);
    expect(fs.readFileSync(`${t.journal}.corrupt-${STAMP}`).equals(damaged)).toBe(true);
    expect(fs.existsSync(t.file)).toBe(true);
    const fatals = t.log.fatals();
    expect(fatals).toHaveLength(1);
    expect(fatals[0]!.message).toMatch(/corrupt at line 5/);
    expect(fatals[0]!.message).toMatch(/lost 3 journal operation\(s\)/);
    expect(fatals[0]!.message).toMatch(/with 5 recovered row\(s\)/);
    await expectUsableAfterwards(t, store, [1, 2, 3, 4, 5]);
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
