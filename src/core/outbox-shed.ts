// The outbox's stored shed summary: what the byte budget shed and the relay has not been told yet,
// kept as one pending `insight` row (`outbox_shed`) in the outbox itself, so the one-line summary
// reaches the relay once it is back even if the runner restarts or is killed during the outage.
import type { NewOutboxRow, OutboxRow, OutboxStore } from '../ports/outbox-store.js';
import { addToSummary, isShedSummary, mergeSummaries, summaryOfRow, summaryPayload, type ShedSummary } from './outbox-rows.js';

/** What the summary needs from its dispatcher. */
export interface ShedSummaryHost {
  /** The store's append. */
  append: OutboxStore['append'];
  /** Rows in the batch being delivered. */
  inflight: ReadonlySet<number>;
  /** A new row for an insight payload under coalesce key `dedupeKey` (with a fresh idempotency key). */
  toRow(payload: unknown, dedupeKey: string): NewOutboxRow;
  /** A coalesce key unique to this outbox's next summary. */
  newKey(): string;
}

/**
 * The running summary and its row. Each shedding replaces the pending summary row (coalesce) with
 * the running total; a summary row in flight to the relay is left alone (replacing it could report
 * its part twice) and the shedding waits in memory until the batch is answered (`flush`); a
 * summary the relay took is final, and the next shedding starts a new one.
 */
export class ShedSummaryRow {
  /** What the stored row `#seq` (coalesce key `#key`) holds. */
  #stored: ShedSummary | undefined;
  /** Shed while the summary row was in flight: not stored yet. */
  #unwritten: ShedSummary | undefined;
  #seq: number | undefined;
  #key: string | undefined;
  #read = false;

  constructor(private readonly host: ShedSummaryHost) {}

  /** Record shed rows; resolves once the summary including them is stored (or left for `flush`). */
  add(victims: readonly OutboxRow[]): Promise<void> {
    this.#unwritten = addToSummary(this.#unwritten, victims);
    return this.flush();
  }

  /** Store what is not stored yet, unless the summary row is in flight. */
  flush(): Promise<void> {
    const delta = this.#unwritten;
    if (!delta || (this.#seq !== undefined && this.host.inflight.has(this.#seq))) return Promise.resolve();
    const summary = mergeSummaries(delta, this.#stored);
    // Set before the append resolves, so a concurrent call adds to this total, not the old one.
    [this.#unwritten, this.#stored] = [undefined, summary];
    this.#key ??= this.host.newKey();
    return this.host.append([this.host.toRow(summaryPayload(summary), this.#key)]).then(
      ([row]) => void (this.#seq = row?.seq),
      (error: unknown) => {
        this.#unwritten = mergeSummaries(delta, this.#unwritten);
        throw error;
      },
    );
  }

  /** True when something shed waits to be stored. */
  get waiting(): boolean {
    return this.#unwritten !== undefined;
  }

  /** After a batch was answered: a summary row the relay took is reported. */
  acknowledged(seqs: readonly number[]): void {
    if (this.#seq !== undefined && seqs.includes(this.#seq)) this.#stored = this.#seq = this.#key = undefined;
  }

  /** Once per run, from the stored rows: take up the summary row a previous run left pending. */
  readBack(pending: readonly OutboxRow[]): void {
    if (this.#read) return;
    this.#read = true;
    const row = [...pending].reverse().find((r) => isShedSummary(r));
    const summary = row && summaryOfRow(row);
    if (!row || !summary || this.#stored) return;
    [this.#stored, this.#seq, this.#key] = [summary, row.seq, row.dedupeKey];
  }
}

