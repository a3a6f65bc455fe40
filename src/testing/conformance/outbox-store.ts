import * as assert from 'node:assert/strict';
import type { NewOutboxRow, OutboxRow, OutboxStore } from '../../ports/outbox-store.js';
import type { ConformanceTestApi } from './clock.js';

/**
 * What a {@link runOutboxStoreConformance} factory returns for one test.
 * @public
 */
export interface OutboxStoreHarness {
  /** A fresh, empty store. */
  store: OutboxStore;
  /**
   * Durable stores only: close the current store and open a new one on the same backing files.
   * The suite then checks that everything persisted.
   */
  reopen?: () => Promise<OutboxStore> | OutboxStore;
  /** Release files and temp directories (the suite closes the stores it holds first). */
  cleanup?: () => Promise<void>;
}

/** A row with defaults, for tests. */
const newRow = (n: number, extra: Partial<NewOutboxRow> = {}): NewOutboxRow => ({
  kind: 'message',
  payloadJson: JSON.stringify({ n }),
  idempotencyKey: `idem-${n}`,
  occurredAt: 1_700_000_000_000 + n,
  ...extra,
});

const seqsOf = (rows: readonly OutboxRow[]): number[] => rows.map((r) => r.seq);

const assertRejectsClosed = async (what: string, call: () => Promise<unknown>): Promise<void> => {
  await assert.rejects(call, (error: unknown) => {
    assert.equal((error as { code?: unknown }).code, 'CLOSED', `${what} after close() must reject with ClosedError`);
    return true;
  });
};

/**
 * Conformance suite for {@link OutboxStore}: FIFO sequence numbers that are never reused, list
 * filters, ignored updates/removes of missing rows, `dedupeKey` coalescing of pending rows only,
 * counts, `ClosedError` after close, exact round-trip of payload text, and (when the harness can
 * `reopen`) persistence of all of it across a reopen.
 * @remarks Framework-agnostic: pass your framework's `describe` and `it`; assertions use
 * `node:assert/strict`. Every test gets a fresh store from `factory`.
 * @public
 */
export function runOutboxStoreConformance(
  name: string,
  factory: () => OutboxStoreHarness | Promise<OutboxStoreHarness>,
  api: ConformanceTestApi,
): void {
  const { describe, it } = api;

  /** Run `body` with a fresh harness; `current()` is the latest store (after reopens). */
  const withStore =
    (body: (s: { store: () => OutboxStore; reopen?: () => Promise<OutboxStore> }) => Promise<void>) => async () => {
      const harness = await factory();
      let store = harness.store;
      const reopen = harness.reopen
        ? async () => {
            store = await harness.reopen!();
            return store;
          }
        : undefined;
      try {
        await body(reopen ? { store: () => store, reopen } : { store: () => store });
      } finally {
        await store.close?.().catch(() => undefined);
        await harness.cleanup?.();
      }
    };

  describe(`OutboxStore conformance: ${name}`, () => {
    it('append assigns strictly increasing seqs and list returns rows in FIFO order', withStore(async ({ store }) => {
      const first = await store().append([newRow(1), newRow(2)]);
      const second = await store().append([newRow(3)]);
      const all = [...first, ...second];
      assert.equal(all.length, 3);
      for (let i = 1; i < all.length; i++) assert.ok(all[i]!.seq > all[i - 1]!.seq, 'seqs strictly increase');
      const listed = await store().list({ state: 'pending', limit: 10 });
      assert.deepEqual(seqsOf(listed), seqsOf(all));
      assert.deepEqual(listed.map((r) => r.idempotencyKey), ['idem-1', 'idem-2', 'idem-3']);
      const row = listed[0]!;
      assert.equal(row.kind, 'message');
      assert.equal(row.payloadJson, '{"n":1}');
      assert.equal(row.occurredAt, 1_700_000_000_001);
      assert.equal(row.attempts, 0);
      assert.equal(row.nextAttemptAt, 0);
      assert.equal(row.state, 'pending');
      assert.equal(row.lastError, undefined);
    }));

    it('concurrent appends (not awaited one by one) keep call order', withStore(async ({ store }) => {
      const results = await Promise.all(Array.from({ length: 50 }, (_, i) => store().append([newRow(i)])));
      const seqs = results.map((r) => r[0]!.seq);
      for (let i = 1; i < seqs.length; i++) assert.ok(seqs[i]! > seqs[i - 1]!, 'call order is seq order');
      const listed = await store().list({ state: 'pending', limit: 100 });
      assert.deepEqual(listed.map((r) => r.idempotencyKey), results.map((r) => r[0]!.idempotencyKey));
    }));

    it('append of no rows returns an empty array', withStore(async ({ store }) => {
      assert.deepEqual(await store().append([]), []);
      assert.equal((await store().counts()).pending, 0);
    }));

    it('seqs are never reused after remove', withStore(async ({ store }) => {
      const rows = await store().append([newRow(1), newRow(2), newRow(3)]);
      await store().remove(seqsOf(rows));
      const [next] = await store().append([newRow(4)]);
      assert.ok(next!.seq > rows[2]!.seq, `new seq ${next!.seq} must exceed removed max ${rows[2]!.seq}`);
    }));

    it('list filters by state and limit', withStore(async ({ store }) => {
      const rows = await store().append([newRow(1), newRow(2), newRow(3), newRow(4), newRow(5)]);
      const [a, b, c, d, e] = seqsOf(rows) as [number, number, number, number, number];
      await store().update(b, { state: 'poisoned', attempts: 12, lastError: 'gave up' });
      await store().update(d, { state: 'poisoned' });
      assert.deepEqual(seqsOf(await store().list({ state: 'pending', limit: 10 })), [a, c, e]);
      assert.deepEqual(seqsOf(await store().list({ state: 'poisoned', limit: 10 })), [b, d]);
      assert.deepEqual(seqsOf(await store().list({ state: 'pending', limit: 2 })), [a, c]);
      assert.deepEqual(await store().list({ state: 'pending', limit: 0 }), []);
      const [poisoned] = await store().list({ state: 'poisoned', limit: 1 });
      assert.equal(poisoned!.attempts, 12);
      assert.equal(poisoned!.lastError, 'gave up');
    }));

    it('update changes only the fields given and can un-poison a row', withStore(async ({ store }) => {
      const [row] = await store().append([newRow(1)]);
      await store().update(row!.seq, { attempts: 3, nextAttemptAt: 1234, lastError: 'HTTP 503' });
      let [got] = await store().list({ state: 'pending', limit: 1 });
      assert.equal(got!.attempts, 3);
      assert.equal(got!.nextAttemptAt, 1234);
      assert.equal(got!.lastError, 'HTTP 503');
      await store().update(row!.seq, { attempts: 4 });
      [got] = await store().list({ state: 'pending', limit: 1 });
      assert.equal(got!.attempts, 4);
      assert.equal(got!.nextAttemptAt, 1234, 'untouched field kept');
      assert.equal(got!.lastError, 'HTTP 503', 'untouched field kept');
      await store().update(row!.seq, { state: 'poisoned' });
      await store().update(row!.seq, { state: 'pending' });
      assert.deepEqual(seqsOf(await store().list({ state: 'pending', limit: 5 })), [row!.seq]);
      assert.deepEqual(await store().counts(), { pending: 1, poisoned: 0, oldestPendingAt: row!.occurredAt });
    }));

    it('update and remove of missing seqs are ignored', withStore(async ({ store }) => {
      const [row] = await store().append([newRow(1)]);
      await store().update(row!.seq + 1000, { attempts: 5, state: 'poisoned' });
      await store().remove([row!.seq + 1000, row!.seq + 1001]);
      await store().remove([]);
      await store().remove([row!.seq]);
      await store().remove([row!.seq]);
      await store().update(row!.seq, { attempts: 9 });
      assert.deepEqual(await store().counts(), { pending: 0, poisoned: 0, oldestPendingAt: undefined });
    }));

    it('dedupeKey replaces pending rows with the same key, never poisoned ones', withStore(async ({ store }) => {
      const [p1, other, poisonedRow] = await store().append([
        newRow(1, { dedupeKey: 'status' }),
        newRow(2, { dedupeKey: 'other' }),
        newRow(3, { dedupeKey: 'status' }),
      ]);
      // The third row already replaced the first in the same call.
      assert.deepEqual(seqsOf(await store().list({ state: 'pending', limit: 10 })), [other!.seq, poisonedRow!.seq]);
      assert.ok(p1!.seq < poisonedRow!.seq);
      await store().update(poisonedRow!.seq, { state: 'poisoned' });
      const [p4] = await store().append([newRow(4, { dedupeKey: 'status' })]);
      const [p5] = await store().append([newRow(5, { dedupeKey: 'status' })]);
      const [plain] = await store().append([newRow(6)]);
      assert.deepEqual(seqsOf(await store().list({ state: 'pending', limit: 10 })), [other!.seq, p5!.seq, plain!.seq]);
      assert.deepEqual(seqsOf(await store().list({ state: 'poisoned', limit: 10 })), [poisonedRow!.seq]);
      assert.ok(p4!.seq < p5!.seq);
      const [, kept] = await store().list({ state: 'pending', limit: 2 });
      assert.equal(kept!.dedupeKey, 'status');
      assert.equal(kept!.payloadJson, '{"n":5}');
    }));

    it('counts report pending, poisoned and the oldest pending occurredAt', withStore(async ({ store }) => {
      assert.deepEqual(await store().counts(), { pending: 0, poisoned: 0, oldestPendingAt: undefined });
      const rows = await store().append([
        newRow(1, { occurredAt: 5000 }),
        newRow(2, { occurredAt: 3000 }),
        newRow(3, { occurredAt: 4000 }),
      ]);
      assert.deepEqual(await store().counts(), { pending: 3, poisoned: 0, oldestPendingAt: 3000 });
      await store().update(rows[1]!.seq, { state: 'poisoned' });
      assert.deepEqual(await store().counts(), { pending: 2, poisoned: 1, oldestPendingAt: 4000 });
      await store().remove([rows[2]!.seq]);
      assert.deepEqual(await store().counts(), { pending: 1, poisoned: 1, oldestPendingAt: 5000 });
      await store().remove([rows[0]!.seq]);
      assert.deepEqual(await store().counts(), { pending: 0, poisoned: 1, oldestPendingAt: undefined });
    }));

    it('payloadJson and other text round-trip exactly (unicode, control characters, lone surrogates)', withStore(async (s) => {
      const texts = [
        JSON.stringify({ text: 'héllo ☃ 😀 中文 עברית', ctl: '\u0000\u0001\u001f\u007f\t\r\n', q: '"\\' }),
        'raw \u0000 nul and \r\n newlines',
        'lone \ud800 high and \udc00 low surrogates',
        '\u0001 starts with SOH',
        '\u2028\u2029 line separators and \ufeff BOM',
        '',
      ];
      const rows = await s.store().append(
        texts.map((payloadJson, i) => newRow(i, { payloadJson, kind: `k\u0000${i}`, idempotencyKey: `id-\ud83d-${i}` })),
      );
      await s.store().update(rows[0]!.seq, { lastError: 'err \u0000 \udfff ⏎' });
      const check = async (store: OutboxStore) => {
        const listed = await store.list({ state: 'pending', limit: 100 });
        assert.deepEqual(listed.map((r) => r.payloadJson), texts);
        assert.deepEqual(listed.map((r) => r.kind), texts.map((_, i) => `k\u0000${i}`));
        assert.deepEqual(listed.map((r) => r.idempotencyKey), texts.map((_, i) => `id-\ud83d-${i}`));
        assert.equal(listed[0]!.lastError, 'err \u0000 \udfff ⏎');
      };
      await check(s.store());
      if (s.reopen) await check(await s.reopen());
    }));

    it('a leading U+FEFF (BOM) in kind, idempotencyKey, dedupeKey, payloadJson and lastError is kept: same bytes out', withStore(async (s) => {
      const bom = '\ufeff';
      const [row] = await s.store().append([
        newRow(1, { kind: `${bom}message`, idempotencyKey: `${bom}key-1`, dedupeKey: `${bom}dk`, payloadJson: `${bom}{"n":1}` }),
      ]);
      await s.store().update(row!.seq, { lastError: `${bom}boom` });
      const check = async (store: OutboxStore) => {
        const [listed] = await store.list({ state: 'pending', limit: 10 });
        assert.ok(listed, 'the row is listed');
        assert.equal(listed.kind, `${bom}message`);
        assert.equal(listed.idempotencyKey, `${bom}key-1`);
        assert.equal(listed.dedupeKey, `${bom}dk`);
        assert.equal(listed.payloadJson, `${bom}{"n":1}`);
        assert.equal(listed.lastError, `${bom}boom`);
      };
      await check(s.store());
      if (s.reopen) await check(await s.reopen());
    }));

    it('returned rows are copies: mutating them does not change the store', withStore(async ({ store }) => {
      const [row] = await store().append([newRow(1)]);
      row!.attempts = 99;
      row!.state = 'poisoned';
      const [listed] = await store().list({ state: 'pending', limit: 1 });
      assert.equal(listed!.attempts, 0);
      listed!.payloadJson = 'changed';
      const [again] = await store().list({ state: 'pending', limit: 1 });
      assert.equal(again!.payloadJson, '{"n":1}');
    }));

    it('every call after close() rejects with ClosedError; close is idempotent', withStore(async ({ store }) => {
      const [row] = await store().append([newRow(1)]);
      await store().close?.();
      await store().close?.();
      if (!store().close) return; // a store without close() has nothing to test here
      await assertRejectsClosed('append', () => store().append([newRow(2)]));
      await assertRejectsClosed('list', () => store().list({ state: 'pending', limit: 1 }));
      await assertRejectsClosed('update', () => store().update(row!.seq, { attempts: 1 }));
      await assertRejectsClosed('remove', () => store().remove([row!.seq]));
      await assertRejectsClosed('counts', () => store().counts());
    }));

    it('calls made before close() complete', withStore(async (s) => {
      const pending = Array.from({ length: 20 }, (_, i) => s.store().append([newRow(i)]));
      const closing = s.store().close?.();
      const results = await Promise.all(pending);
      await closing;
      assert.equal(results.length, 20);
      if (s.reopen) {
        const reopened = await s.reopen();
        assert.equal((await reopened.counts()).pending, 20, 'everything appended before close() persisted');
      }
    }));

    it('persists rows, bookkeeping and the seq high-water mark across reopen (durable stores)', withStore(async (s) => {
      if (!s.reopen) return; // memory stores are not durable
      const rows = await s.store().append([newRow(1), newRow(2, { dedupeKey: 'k' }), newRow(3), newRow(4)]);
      await s.store().update(rows[0]!.seq, { attempts: 2, nextAttemptAt: 99, lastError: 'boom' });
      await s.store().update(rows[2]!.seq, { state: 'poisoned', attempts: 12 });
      await s.store().remove([rows[3]!.seq]);
      const before = {
        pending: await s.store().list({ state: 'pending', limit: 100 }),
        poisoned: await s.store().list({ state: 'poisoned', limit: 100 }),
        counts: await s.store().counts(),
      };
      const reopened = await s.reopen();
      assert.deepEqual(await reopened.list({ state: 'pending', limit: 100 }), before.pending);
      assert.deepEqual(await reopened.list({ state: 'poisoned', limit: 100 }), before.poisoned);
      assert.deepEqual(await reopened.counts(), before.counts);
      // The removed last row's seq must not come back, and dedupe still sees the persisted key.
      const [next] = await reopened.append([newRow(5, { dedupeKey: 'k' })]);
      assert.ok(next!.seq > rows[3]!.seq, `seq ${next!.seq} reused after reopen (max was ${rows[3]!.seq})`);
      assert.deepEqual(seqsOf(await reopened.list({ state: 'pending', limit: 100 })), [rows[0]!.seq, next!.seq]);
      const again = await s.reopen();
      assert.deepEqual(seqsOf(await again.list({ state: 'pending', limit: 100 })), [rows[0]!.seq, next!.seq]);
      const [after] = await again.append([newRow(6)]);
      assert.ok(after!.seq > next!.seq);
    }));

    it('seqs are never reused after removing everything and reopening (durable stores)', withStore(async (s) => {
      if (!s.reopen) return;
      const rows = await s.store().append([newRow(1), newRow(2)]);
      await s.store().remove(seqsOf(rows));
      const reopened = await s.reopen();
      const [next] = await reopened.append([newRow(3)]);
      assert.ok(next!.seq > rows[1]!.seq, `seq ${next!.seq} reused after reopen`);
    }));
  });
}
