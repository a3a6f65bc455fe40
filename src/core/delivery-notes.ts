import type { Logger } from '../ports/logger.js';
import type { DeliveryJournal, DeliveryNoteState } from '../ports/delivery-journal.js';
import { describeError } from '../shared/describe-error.js';

/** How many finished message ids the journal keeps, to recognise late duplicates across a restart. */
export const FINISHED_KEPT = 200;

/**
 * The runner's side of the {@link DeliveryJournal}: an in-memory copy of the note, written through
 * one save at a time (the last write always carries the latest state). Never throws: a note that
 * cannot be written only costs the retry notice after a runner crash.
 */
export class DeliveryNotes {
  readonly #journal: DeliveryJournal | undefined;
  readonly #logger: Logger;
  #notes: Record<string, DeliveryNoteState> = {};
  #saving: Promise<void> = Promise.resolve();

  constructor(journal: DeliveryJournal | undefined, logger: Logger) {
    this.#journal = journal;
    this.#logger = logger;
  }

  /** Read what the previous run left (once, at start). */
  async load(): Promise<void> {
    if (!this.#journal) return;
    try {
      this.#notes = { ...(await this.#journal.load()) };
    } catch (error) {
      this.#logger.warn('delivery', `delivery journal unreadable, starting empty: ${describeError(error)}`);
    }
  }

  /** Where the previous run (or this one) left a message. */
  get(messageId: string): DeliveryNoteState | undefined {
    return this.#notes[messageId];
  }

  /** Every noted message id. */
  ids(): string[] {
    return Object.keys(this.#notes);
  }

  /**
   * Record a state (or forget the message with `undefined`) and save. Finished messages are kept
   * (the most recent {@link FINISHED_KEPT}): a late duplicate of one, in this run or the next, is
   * recognised and never delivered again.
   */
  set(messageId: string, state: DeliveryNoteState | undefined): Promise<void> {
    if (this.#notes[messageId] === state) return this.#saving;
    delete this.#notes[messageId];
    if (state !== undefined) this.#notes[messageId] = state; // insertion order: oldest first
    const finished = Object.keys(this.#notes).filter((id) => this.#notes[id] === 'finished');
    for (const id of finished.slice(0, Math.max(0, finished.length - FINISHED_KEPT))) delete this.#notes[id];
    return this.#save();
  }

  #save(): Promise<void> {
    const journal = this.#journal;
    if (!journal) return Promise.resolve();
    this.#saving = this.#saving.then(async () => {
      try {
        await journal.save({ ...this.#notes });
      } catch (error) {
        this.#logger.warn('delivery', `could not write the delivery journal: ${describeError(error)}`);
      }
    });
    return this.#saving;
  }
}
