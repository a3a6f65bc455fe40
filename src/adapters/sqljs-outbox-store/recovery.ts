/**
 * Recovery of the sql.js outbox store at open: read the snapshot and the journal, replay what is
 * valid, and quarantine what is not, so a damaged file never crash-loops the runner (SPEC §3).
 *
 * What survives, by case:
 * - a torn last journal line (a write that never completed, so never acknowledged): dropped with
 *   a warning, everything else kept;
 * - a corrupt middle journal line, or one that does not replay: the snapshot plus the operations
 *   before it; the journal is quarantined;
 * - a journal of another generation than the snapshot: older is stale (a checkpoint already holds
 *   it) and is dropped; newer or headerless is quarantined;
 * - an unreadable snapshot: nothing (its journal only makes sense on top of it, so it goes too);
 * - a journal without a snapshot: nothing it says has a base, so it is quarantined.
 */
import * as fs from 'node:fs';
import type { Logger } from '../../ports/logger.js';
import { DIR_MODE, errorText, quarantine, readIfExists } from './files.js';
import { describeLostJournal, journalSeqs, scanJournal } from './journal.js';
import { RowIndex } from './row-index.js';
import { SnapshotDb, loadSqlJs, snapshotHeaderProblem } from './snapshot.js';

/** Where a store's files live. */
export interface StoreFiles {
  /** The snapshot. */
  path: string;
  /** `<path>.journal`. */
  journalPath: string;
  /** The directory holding both. */
  dir: string;
}

/** What to do with the journal file after recovery. */
export type JournalPlan =
  /** Write a snapshot of the recovered state and start a fresh journal (new or repaired store). */
  | { kind: 'checkpoint' }
  /** Keep appending to the journal, first cutting it to `length` bytes when `cut`. */
  | { kind: 'keep'; length: number; cut: boolean }
  /** Nothing in the journal counts: start it over for the snapshot's generation. */
  | { kind: 'reset' };

/** The recovered state. */
export interface Recovered {
  snapshot: SnapshotDb;
  index: RowIndex;
  /** The snapshot's generation (0 for a fresh store). */
  gen: number;
  journal: JournalPlan;
  /** One sentence per quarantined file, for the FATAL line (empty when nothing was lost). */
  lost: string[];
}

/** Read and repair the files; quarantines damaged ones. `now` names the quarantined copies. */
export async function recover(files: StoreFiles, now: () => number, log: Logger): Promise<Recovered> {
  const SQL = await loadSqlJs();
  if (!fs.existsSync(files.dir)) fs.mkdirSync(files.dir, { recursive: true, mode: DIR_MODE });
  // A leftover temp snapshot is a checkpoint that never got renamed: the old snapshot is still valid.
  fs.rmSync(`${files.path}.tmp`, { force: true });

  const snapshotBytes = readIfExists(files.path);
  const journal = readIfExists(files.journalPath);
  const lost: string[] = [];
  let index = new RowIndex();
  let gen = 0;
  let snapshot: SnapshotDb | undefined;

  if (snapshotBytes) {
    let reason = snapshotHeaderProblem(snapshotBytes);
    if (!reason) {
      try {
        const loaded = SnapshotDb.load(SQL, snapshotBytes);
        snapshot = loaded.snapshot;
        gen = loaded.gen;
        index.maxSeq = loaded.maxSeq;
        for (const row of loaded.rows) index.load(row.seq, row.state, row.dedupeKey, row.occurredAt);
      } catch (error) {
        index = new RowIndex();
        gen = 0;
        reason = errorText(error);
      }
    }
    if (!snapshot) {
      const where = quarantine(files.path, now());
      lost.push(`snapshot ${files.path} is unreadable (${reason}); moved to ${where} (${snapshotBytes.length} bytes, row count unknown)`);
      if (journal && journal.length > 0) {
        index.maxSeq = Math.max(index.maxSeq, journalSeqs(journal));
        const jWhere = quarantine(files.journalPath, now());
        lost.push(`its journal moved to ${jWhere} (${journal.length} bytes, ${describeLostJournal(journal, 0)})`);
      }
      return { snapshot: SnapshotDb.empty(SQL), index, gen, journal: { kind: 'checkpoint' }, lost };
    }
  } else {
    if (journal && journal.length > 0) {
      const scan = scanJournal(journal);
      if (scan.ops.length > 0 || scan.corruptAt) {
        // A journal only ever follows a snapshot; without one its operations have no base.
        index.maxSeq = Math.max(index.maxSeq, journalSeqs(journal));
        const where = quarantine(files.journalPath, now());
        lost.push(`journal ${files.journalPath} has no snapshot to apply to; moved to ${where} (${journal.length} bytes, ${describeLostJournal(journal, scan.headerEnd)})`);
      }
    }
    return { snapshot: SnapshotDb.empty(SQL), index, gen, journal: { kind: 'checkpoint' }, lost };
  }

  try {
    return { snapshot, index, gen, journal: replayJournal(files, journal, index, gen, lost, now, log), lost };
  } catch (error) {
    snapshot.close();
    throw error;
  }
}

/** Replay a journal over a loaded snapshot; says what to do with the file. */
function replayJournal(
  files: StoreFiles,
  journal: Buffer | undefined,
  index: RowIndex,
  gen: number,
  lost: string[],
  now: () => number,
  log: Logger,
): JournalPlan {
  if (!journal || journal.length === 0) return { kind: 'reset' };
  const scan = scanJournal(journal);
  if (scan.gen === undefined && scan.corruptAt === undefined) return { kind: 'reset' }; // empty or torn header: nothing was ever acknowledged in it
  if (scan.gen !== undefined && scan.gen < gen) return { kind: 'reset' }; // stale: a checkpoint already folded it into the snapshot
  if (scan.gen === undefined || scan.gen > gen) {
    const where = quarantine(files.journalPath, now());
    const why = scan.gen === undefined ? `bad header (${scan.corruptAt?.reason ?? 'unreadable'})` : `generation ${scan.gen} is newer than the snapshot's ${gen}`;
    lost.push(`journal ${files.journalPath} does not match the snapshot: ${why}; moved to ${where} (${journal.length} bytes, ${describeLostJournal(journal, scan.headerEnd)})`);
    return { kind: 'checkpoint' };
  }
  let validEnd = scan.headerEnd;
  let badAt = scan.corruptAt;
  for (const [i, { op, end }] of scan.ops.entries()) {
    try {
      index.replay(op);
    } catch (error) {
      badAt = { line: i + 2, offset: validEnd, reason: errorText(error) };
      break;
    }
    validEnd = end;
  }
  if (badAt) {
    const where = quarantine(files.journalPath, now());
    lost.push(
      `journal ${files.journalPath} is corrupt at line ${badAt.line} (${badAt.reason}); kept the snapshot and the ${badAt.line - 2} operation(s) before it; moved the journal to ${where} (${journal.length} bytes); lost ${describeLostJournal(journal, badAt.offset)}`,
    );
    return { kind: 'checkpoint' };
  }
  if (scan.tornBytes > 0) {
    log.warn('outbox', `ignored ${scan.tornBytes} torn byte(s) at the end of ${files.journalPath} (a write that never completed, never acknowledged)`);
  }
  return { kind: 'keep', length: validEnd, cut: validEnd !== journal.length };
}
