import { readFile } from 'node:fs/promises';
import type { DeliveryJournal, DeliveryNoteState } from '../ports/delivery-journal.js';
import { writePrivateJson } from './runner-files.js';

/**
 * The delivery journal as one small JSON file (owner-only, replaced atomically by rename).
 * @remarks A missing or unreadable file reads as an empty note: at worst a message the previous run
 * was working on is delivered again without the retry notice.
 * @internal Not yet a host option: `createRunner` keeps the note in `<dataDir>/deliveries.json`.
 */
export function createFileDeliveryJournal(options: { path: string }): DeliveryJournal {
  return {
    async load() {
      try {
        const value = JSON.parse(await readFile(options.path, 'utf8')) as unknown;
        const notes: Record<string, DeliveryNoteState> = {};
        if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
          for (const [id, state] of Object.entries(value)) if (state === 'consumed' || state === 'finished') notes[id] = state;
        }
        return notes;
      } catch {
        return {};
      }
    },
    save: (notes) => writePrivateJson(options.path, notes),
  };
}
