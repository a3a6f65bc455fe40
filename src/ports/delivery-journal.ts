/**
 * Where a message stands in the runner across a restart of the runner process itself:
 * `consumed` (the agent was shown it; its turn had not ended) or `finished` (its turn ended or its
 * reply was sent, but the relay may not know it read yet).
 * @internal Not yet a host option: `createRunner` keeps the note in `<dataDir>/deliveries.json`.
 */
export type DeliveryNoteState = 'consumed' | 'finished';

/**
 * A small durable note of the messages the runner is working on, read once at start.
 * @remarks The relay's unread poll returns every message not yet marked read; this note tells the
 * next run which of them were already shown to the agent (redeliver as a retry) or already
 * finished (mark read, do not deliver again). Writes replace the whole note and must be atomic
 * (a crash leaves the old note or the new one, never a torn one); it holds a handful of ids.
 * @internal Not yet a host option: `createRunner` keeps the note in `<dataDir>/deliveries.json`.
 */
export interface DeliveryJournal {
  /** The note the previous run left (empty when none, or when it cannot be read). */
  load(): Promise<Record<string, DeliveryNoteState>>;
  /** Replace the note. */
  save(notes: Readonly<Record<string, DeliveryNoteState>>): Promise<void>;
}
