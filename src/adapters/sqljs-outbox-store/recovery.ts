/**
 * Recovery of the sql.js outbox store at open: read the snapshot generations and the journals,
 * replay what is valid, and quarantine what is not, so a damaged file never crash-loops the
 * runner (SPEC §3). Rule: a damaged region loses at most the records inside it.
 *
 * Files: `<path>` (snapshot, generation G), `<path>.prev` (generation G-1, kept by each
 * checkpoint), `<path>.journal` (operations since the newest checkpoint began) and
 * `<path>.journal.prev` (the journal before that). A checkpoint starts generation G+1's journal
 * at the moment it exports the image, so generation G + its journal + journal G+1 is always the
 * whole state, and so is G+1 + journal G+1.
 *
 * What survives, by case:
 * - a torn last journal line (a write that never completed, never acknowledged): dropped, warning;
 * - a journal record failing its checksum (or not parsing): that record alone is lost; its bytes
 *   go to `<journal>.corrupt-<time>`, one FATAL line says what it held;
 * - a damaged snapshot: quarantined; the previous generation plus the journals since is loaded
 *   instead (nothing lost while those journals are intact; logged at ERROR);
 * - both generations damaged: nothing from the snapshots; the journals are quarantined;
 * - a journal whose generation does not follow the snapshot (a gap): quarantined;
 * - a journal without any snapshot: nothing it says has a base, so it is quarantined.
 * Format-1 journals (no checksums) are read, then migrated by the checkpoint at open.
 */
import * as fs from 'node:fs';
import type { Logger } from '../../ports/logger.js';
import { DIR_MODE, FILE_MODE, errorText, quarantine, readIfExists } from './files.js';
import { describeLostJournal, describeRecord, journalSeqs, scanJournal, type JournalScan } from './journal.js';
import { RowIndex } from './row-index.js';
import { SnapshotDb, loadSqlJs, snapshotHeaderProblem } from './snapshot.js';
import type { SqlJsStatic } from 'sql.js';

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
  /** Write a new snapshot generation `gen` of the recovered state and start its journal afresh. */
  | { kind: 'checkpoint'; gen: number }
  /** Keep appending to the journal, first cutting it to `length` bytes when `cut`. */
  | { kind: 'keep'; length: number; cut: boolean }
  /** Nothing in the journal counts: start it over for the snapshot's generation. */
  | { kind: 'reset' };

/** The recovered state. */
export interface Recovered {
  snapshot: SnapshotDb;
  index: RowIndex;
  /** The loaded snapshot's generation (0 for a fresh store). */
  gen: number;
  journal: JournalPlan;
  /** One sentence per loss, for the FATAL line (empty when nothing was lost). */
  lost: string[];
  /** Damage repaired without loss (a fallback to the previous generation), for an ERROR line. */
  repaired: string[];
}

interface LoadedSnapshot {
  snapshot: SnapshotDb;
  gen: number;
  maxSeq: number;
  rows: ReturnType<typeof SnapshotDb.load>['rows'];
}

/** Load one snapshot file: the image, or the reason it is unusable (undefined when absent). */
function loadSnapshot(SQL: SqlJsStatic, file: string): { loaded?: LoadedSnapshot; problem?: string; size: number } | undefined {
  const bytes = readIfExists(file);
  if (!bytes) return undefined;
  const problem = snapshotHeaderProblem(bytes);
  if (problem) return { problem, size: bytes.length };
  try {
    return { loaded: SnapshotDb.load(SQL, bytes), size: bytes.length };
  } catch (error) {
    return { problem: errorText(error), size: bytes.length };
  }
}

/** Read and repair the files; quarantines damaged ones. `now` names the quarantined copies. */
export async function recover(files: StoreFiles, now: () => number, log: Logger): Promise<Recovered> {
  const SQL = await loadSqlJs();
  if (!fs.existsSync(files.dir)) fs.mkdirSync(files.dir, { recursive: true, mode: DIR_MODE });
  // A leftover temp snapshot is a checkpoint that never got renamed: the old snapshot is still valid.
  fs.rmSync(`${files.path}.tmp`, { force: true });
  const lost: string[] = [];
  const repaired: string[] = [];
  const prevPath = `${files.path}.prev`;

  // The newest usable generation: `<path>`, else the previous one.
  let base: LoadedSnapshot | undefined;
  let fellBack = false;
  const current = loadSnapshot(SQL, files.path);
  if (current?.loaded) base = current.loaded;
  else {
    const previous = loadSnapshot(SQL, prevPath);
    if (previous?.loaded) {
      base = previous.loaded;
      fellBack = true;
    } else if (previous?.problem) {
      const where = quarantine(prevPath, now());
      lost.push(`previous snapshot ${prevPath} is unreadable too (${previous.problem}); moved to ${where} (${previous.size} bytes)`);
    }
    if (current?.problem) {
      const where = quarantine(files.path, now());
      const text = `snapshot ${files.path} is unreadable (${current.problem}); moved to ${where} (${current.size} bytes)`;
      if (base) repaired.push(`${text}; loaded the previous generation ${base.gen} and replayed the journals since`);
      else lost.push(`${text}, row count unknown`);
    }
  }

  const index = new RowIndex();
  let gen = 0;
  if (base) {
    gen = base.gen;
    index.maxSeq = base.maxSeq;
    for (const row of base.rows) index.load(row.seq, row.state, row.dedupeKey, row.occurredAt);
  }
  const snapshot = base?.snapshot ?? SnapshotDb.empty(SQL);
  try {
    const journal = replayJournals(files, base !== undefined, gen, index, lost, repaired, now, log);
    // A new store, or one read from its previous generation, gets a fresh checkpoint straight away.
    const plan: JournalPlan = !base || fellBack ? { kind: 'checkpoint', gen: journal.maxGen + 1 } : journal.plan;
    return { snapshot, index, gen, journal: plan, lost, repaired };
  } catch (error) {
    snapshot.close();
    throw error;
  }
}

interface ReadJournal {
  file: string;
  bytes: Buffer;
  scan: JournalScan;
}

/** Replay the journals that follow generation `gen`, in generation order; says what to do next. */
function replayJournals(
  files: StoreFiles,
  hasBase: boolean,
  gen: number,
  index: RowIndex,
  lost: string[],
  repaired: string[],
  now: () => number,
  log: Logger,
): { plan: JournalPlan; maxGen: number } {
  const journals: ReadJournal[] = [];
  let maxGen = gen;
  for (const file of [`${files.journalPath}.prev`, files.journalPath]) {
    const bytes = readIfExists(file);
    if (!bytes || bytes.length === 0) continue;
    const scan = scanJournal(bytes);
    if (scan.gen !== undefined) maxGen = Math.max(maxGen, scan.gen);
    if (scan.headerProblem !== undefined || scan.gen === undefined) {
      // No newline at all: a header whose write never finished, so nothing was acknowledged in it.
      if (bytes.indexOf(0x0a) === -1) continue;
      index.maxSeq = Math.max(index.maxSeq, journalSeqs(bytes));
      const where = quarantine(file, now());
      lost.push(`journal ${file} has a bad header (${scan.headerProblem ?? 'unreadable'}); moved to ${where} (${bytes.length} bytes, ${describeLostJournal(bytes, 0)})`);
      continue;
    }
    journals.push({ file, bytes, scan });
  }
  journals.sort((a, b) => a.scan.gen! - b.scan.gen!);

  let expected = gen;
  const replayed: ReadJournal[] = [];
  for (const j of journals) {
    const jGen = j.scan.gen!;
    if (jGen < expected) continue; // stale: a checkpoint already folded it into the snapshot
    const hasRecords = j.scan.ops.length > 0 || j.scan.bad.length > 0;
    if (!hasBase || jGen > expected) {
      if (!hasRecords) continue;
      // Its operations have no base (no snapshot, or the journal between them is missing).
      index.maxSeq = Math.max(index.maxSeq, journalSeqs(j.bytes));
      const where = quarantine(j.file, now());
      const why = hasBase ? `generation ${jGen} does not follow the snapshot's ${gen}` : 'there is no snapshot to apply it to';
      lost.push(`journal ${j.file} cannot be replayed: ${why}; moved to ${where} (${j.bytes.length} bytes, ${describeLostJournal(j.bytes, j.scan.headerEnd)})`);
      continue;
    }
    for (const { op } of j.scan.ops) index.replay(op);
    if (j.scan.bad.length > 0) {
      // Each damaged record alone: its bytes go aside, its neighbours were replayed.
      const aside = `${j.file}.corrupt-${new Date(now()).toISOString().replace(/:/g, '-')}`;
      let target = aside;
      for (let n = 2; fs.existsSync(target); n++) target = `${aside}-${n}`;
      fs.writeFileSync(target, Buffer.concat(j.scan.bad.map((b) => j.bytes.subarray(b.offset, b.end))), { mode: FILE_MODE });
      for (const b of j.scan.bad) {
        index.maxSeq = Math.max(index.maxSeq, journalSeqs(j.bytes.subarray(b.offset, b.end)));
        lost.push(`journal ${j.file} line ${b.line} is damaged (${b.reason}); lost that record alone: ${describeRecord(j.bytes.subarray(b.offset, b.end))}; its bytes are in ${target}`);
      }
    }
    if (j.scan.tornBytes > 0) {
      log.warn('outbox', `ignored ${j.scan.tornBytes} torn byte(s) at the end of ${j.file} (a write that never completed, never acknowledged)`);
    }
    replayed.push(j);
    expected = jGen + 1;
  }
  if (repaired.length > 0 || replayed.length > 1) return { plan: { kind: 'checkpoint', gen: maxGen + 1 }, maxGen };
  const only = replayed[0];
  if (!only) return { plan: { kind: 'reset' }, maxGen };
  if (only.file !== files.journalPath || only.scan.version !== 2 || only.scan.bad.length > 0) {
    // A journal.prev alone, a format-1 journal, or one with damaged records: rewrite it clean.
    return { plan: { kind: 'checkpoint', gen: maxGen + 1 }, maxGen };
  }
  const validEnd = only.bytes.length - only.scan.tornBytes;
  return { plan: { kind: 'keep', length: validEnd, cut: validEnd !== only.bytes.length }, maxGen };
}
