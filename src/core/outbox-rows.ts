// Row-level helpers of the outbox dispatcher: what a row costs against the byte budget, which rows
// may be shed, the shed summary, the per-outbox key prefix, and a row's delivery form.
import type { NewOutboxRow, OutboxRow } from '../ports/outbox-store.js';
import type { OutboxDelivery } from '../ports/outbox-send.js';

/**
 * Kinds the outbox may shed, oldest first, when its byte budget is spent: the session mirror and
 * insights are observations a reader can live without. Everything else (the agent's own messages
 * and replies, task status, hook failures, unknown kinds) is never shed: when the budget is spent
 * it is refused at the door instead, so the caller knows at once.
 * @public
 */
export const SHEDDABLE_OUTBOX_KINDS: readonly string[] = Object.freeze(['session', 'insight']);

const sheddable = new Set(SHEDDABLE_OUTBOX_KINDS);

/** Whether rows of this kind may be shed under byte pressure. */
export function isSheddable(kind: string): boolean {
  return sheddable.has(kind);
}

/** Fixed per-row allowance for the store's own bookkeeping (seq, counters, state, framing). */
const ROW_OVERHEAD_BYTES = 64;

/**
 * What a row costs against the byte budget: UTF-8 bytes of its text fields plus a fixed
 * per-row allowance. An estimate of what the store keeps, not an exact file size.
 */
export function rowBytes(row: NewOutboxRow): number {
  return (
    utf8Length(row.payloadJson) + utf8Length(row.kind) + utf8Length(row.idempotencyKey) + (row.dedupeKey ? utf8Length(row.dedupeKey) : 0) + ROW_OVERHEAD_BYTES
  );
}

/** UTF-8 byte length of a string without encoding it (lone surrogates count as U+FFFD, 3 bytes). */
export function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}

/**
 * Prefix of the `dedupeKey` of the outbox's own shed-summary rows: each shedding replaces the
 * pending summary (coalesce) with the running total, and the summary itself is never shed.
 */
export const SHED_SUMMARY_KEY = 'agent-relay-runner:outbox-shed';

/** Whether a stored row is one of the outbox's own shed summaries. */
export function isShedSummary(row: { kind: string; dedupeKey?: string | undefined }): boolean {
  return row.kind === 'insight' && row.dedupeKey !== undefined && row.dedupeKey.startsWith(SHED_SUMMARY_KEY);
}

/** Rows to shed to free `need` bytes: poisoned rows first, then sheddable pending rows, oldest first; never a shed summary. */
export function pickShed(poisoned: readonly OutboxRow[], pending: readonly OutboxRow[], need: number, busy: ReadonlySet<number>): OutboxRow[] {
  const picked: OutboxRow[] = [];
  let freed = 0;
  for (const row of [...poisoned, ...pending.filter((r) => isSheddable(r.kind))]) {
    if (freed >= need) break;
    if (busy.has(row.seq) || isShedSummary(row)) continue; // in flight: the relay may be applying it right now
    picked.push(row);
    freed += rowBytes(row);
  }
  return picked;
}

/** What was shed and not yet reported to the relay; stored as one pending insight row, replaced at each shedding. */
export interface ShedSummary {
  /** Rows shed, by kind. */
  kinds: Record<string, number>;
  /** Rows shed in all. */
  rows: number;
  /** Budget bytes freed. */
  bytes: number;
  /** `occurredAt` of the oldest and newest row shed. */
  from: number;
  /** See `from`. */
  to: number;
}

/** Fold shed rows into a running summary. */
export function addToSummary(summary: ShedSummary | undefined, rows: readonly OutboxRow[]): ShedSummary {
  const next: ShedSummary = summary ? { ...summary, kinds: { ...summary.kinds } } : { kinds: {}, rows: 0, bytes: 0, from: Infinity, to: -Infinity };
  for (const row of rows) {
    next.kinds[row.kind] = (next.kinds[row.kind] ?? 0) + 1;
    next.rows += 1;
    next.bytes += rowBytes(row);
    next.from = Math.min(next.from, row.occurredAt);
    next.to = Math.max(next.to, row.occurredAt);
  }
  return next;
}

/** Two summaries as one. */
export function mergeSummaries(a: ShedSummary, b: ShedSummary | undefined): ShedSummary {
  if (!b) return a;
  const kinds = { ...a.kinds };
  for (const [kind, n] of Object.entries(b.kinds)) kinds[kind] = (kinds[kind] ?? 0) + n;
  return { kinds, rows: a.rows + b.rows, bytes: a.bytes + b.bytes, from: Math.min(a.from, b.from), to: Math.max(a.to, b.to) };
}

/** The summary a stored shed-summary row holds (after a restart), or undefined when it cannot be read. */
export function summaryOfRow(row: OutboxRow): ShedSummary | undefined {
  try {
    const data = (JSON.parse(row.payloadJson) as { data?: Partial<ShedSummary> }).data;
    if (!data || typeof data.rows !== 'number' || typeof data.bytes !== 'number' || typeof data.kinds !== 'object' || data.kinds === null) return undefined;
    if (typeof data.from !== 'number' || typeof data.to !== 'number') return undefined;
    return { kinds: { ...data.kinds }, rows: data.rows, bytes: data.bytes, from: data.from, to: data.to };
  } catch {
    return undefined;
  }
}

/** The insight payload that carries a summary to the relay. */
export function summaryPayload(summary: ShedSummary): { type: 'outbox_shed'; data: Record<string, unknown> } {
  return {
    type: 'outbox_shed',
    data: { summary: describeShed(summary), rows: summary.rows, bytes: summary.bytes, kinds: summary.kinds, from: summary.from, to: summary.to },
  };
}

/** The one-line text of a summary, e.g. `outbox budget spent: shed 120 session, 3 insight (48213 bytes) …`. */
export function describeShed(summary: ShedSummary): string {
  const kinds = Object.entries(summary.kinds)
    .map(([kind, n]) => `${n} ${kind}`)
    .join(', ');
  return `outbox byte budget spent during an outage: shed ${kinds} (${summary.bytes} bytes) that occurred between ${new Date(summary.from).toISOString()} and ${new Date(summary.to).toISOString()}`;
}

/**
 * A per-outbox id for default keys: a random UUID where the platform has one (Node ≥ 19, browsers),
 * else the clock and 96 bits of `random`. It is stored in every key, so a restart keeps old keys.
 */
export function randomInstanceId(random: () => number, now: number): string {
  const uuid = (globalThis as { crypto?: { randomUUID?: () => string } }).crypto?.randomUUID?.();
  if (uuid) return uuid.replaceAll('-', '');
  let id = now.toString(36);
  for (let i = 0; i < 4; i++) id += Math.floor(random() * 2 ** 24).toString(36).padStart(5, '0');
  return id;
}

/** A stored row as the carrier gets it; throws when the stored payload is not JSON. */
export function toDelivery(row: OutboxRow): OutboxDelivery {
  return {
    seq: row.seq,
    kind: row.kind,
    payload: JSON.parse(row.payloadJson) as unknown,
    idempotencyKey: row.idempotencyKey,
    occurredAt: row.occurredAt,
    attempts: row.attempts,
  };
}
