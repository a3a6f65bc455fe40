/**
 * File primitives of the sql.js outbox store: owner-only modes, complete writes, syncs of files
 * and directories, and quarantine of a damaged file.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describeError } from '../../shared/describe-error.js';

/** Snapshot format version, written in the snapshot's meta table (the journal has its own). */
export const FORMAT = 1;
/** Files are owner-only (SPEC §3). */
export const FILE_MODE = 0o600;
/** A directory the store creates is owner-only. */
export const DIR_MODE = 0o700;

/** An error as one line, with its errno code when the message does not already say it. */
export function errorText(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  const message = describeError(error);
  return typeof code === 'string' && !message.includes(code) ? `${code}: ${message}` : message;
}

/** Write all of `bytes` at the descriptor's position (a regular file may take them in pieces). */
export function writeAllSync(fd: number, bytes: Uint8Array): void {
  let off = 0;
  while (off < bytes.length) off += fs.writeSync(fd, bytes, off, bytes.length - off);
}

/** `fdatasync` on the libuv threadpool, so the event loop keeps running during the disk sync. */
export function fdatasyncAsync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.fdatasync(fd, (error) => (error ? reject(error) : resolve())));
}

/** Make a rename or a file creation in `dir` durable. */
export function fsyncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** The file's bytes, or undefined when it does not exist. */
export function readIfExists(file: string): Buffer | undefined {
  try {
    return fs.readFileSync(file);
  } catch (error) {
    if ((error as { code?: unknown }).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** `fsync` of a directory on the libuv threadpool (a rename or creation in it becomes durable). */
export async function fsyncDirAsync(dir: string): Promise<void> {
  const handle = await fs.promises.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Install a new snapshot generation at `file`, keeping the one it replaces as `<file>.prev`: write
 * `<file>.tmp` and sync it (threadpool), hard-link the current file as `.prev`, atomically rename
 * the temp file over `file`, sync the directory. `file` never goes missing in between. All disk
 * waits are off the event loop; only the link and rename (metadata) run on it.
 */
export async function installSnapshot(file: string, bytes: Uint8Array): Promise<void> {
  const tmp = `${file}.tmp`;
  const handle = await fs.promises.open(tmp, 'w', FILE_MODE);
  try {
    await handle.chmod(FILE_MODE);
    await handle.writeFile(bytes);
    await handle.sync();
  } finally {
    await handle.close();
  }
  const prev = `${file}.prev`;
  fs.rmSync(prev, { force: true });
  try {
    fs.linkSync(file, prev);
  } catch (error) {
    if ((error as { code?: unknown }).code !== 'ENOENT') throw error;
  }
  fs.renameSync(tmp, file);
  await fsyncDirAsync(path.dirname(file));
}

/** Rename a damaged file to `<file>.corrupt-<ISO time>[-n]`, keeping its bytes; returns the new name. */
export function quarantine(file: string, nowMs: number): string {
  const stamp = new Date(nowMs).toISOString().replace(/:/g, '-');
  let target = `${file}.corrupt-${stamp}`;
  for (let n = 2; fs.existsSync(target); n++) target = `${file}.corrupt-${stamp}-${n}`;
  fs.renameSync(file, target);
  return target;
}
