/**
 * One writer per store: `<path>.lock`, created with O_EXCL (owner-only) and holding the owner's
 * pid. Two writers on the same journal silently lose each other's acknowledged rows, so a second
 * opener — another process, or a second store object in this process — is refused with
 * `STORE_LOCKED`. A lock whose pid is no longer alive was left by a crash and is taken over.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import type { Logger } from '../../ports/logger.js';
import { StoreError } from '../../errors/index.js';
import { FILE_MODE, errorText } from './files.js';
import { pidAlive } from '../pid.js';


/** The pid a lock file names, or undefined when it names none (a lock torn while being written). */
function readHolder(lockPath: string): number | undefined {
  let text: string;
  try {
    text = fs.readFileSync(lockPath, 'utf8');
  } catch (error) {
    if ((error as { code?: unknown }).code === 'ENOENT') return undefined;
    throw error;
  }
  const pid = Number(text.trim().split(' ')[0]);
  return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
}

/** Create the lock file exclusively with our pid and `token`; false when it already exists. */
function tryCreate(lockPath: string, token: string): boolean {
  let fd: number;
  try {
    fd = fs.openSync(lockPath, 'wx', FILE_MODE);
  } catch (error) {
    if ((error as { code?: unknown }).code === 'EEXIST') return false;
    throw error;
  }
  try {
    fs.fchmodSync(fd, FILE_MODE);
    fs.writeSync(fd, `${process.pid} ${token}\n`);
  } finally {
    fs.closeSync(fd);
  }
  return true;
}

/**
 * Take the store's lock or throw `StoreError` with code `STORE_LOCKED` naming the holder's pid.
 * A lock left by a dead process (or one without a pid: its writer died mid-write) is taken over,
 * with a warning. Returns the token that {@link releaseStoreLock} needs.
 */
export function acquireStoreLock(lockPath: string, storePath: string, log: Logger): string {
  // The pid alone cannot tell two store objects of one process apart; the token can.
  const token = randomBytes(8).toString('hex');
  for (let attempt = 0; attempt < 3; attempt++) {
    if (tryCreate(lockPath, token)) return token;
    const holder = readHolder(lockPath);
    if (holder !== undefined && pidAlive(holder)) {
      const who = holder === process.pid ? `pid ${holder} (this process: another store object is open on it)` : `pid ${holder}`;
      throw new StoreError(`outbox store ${storePath} is in use by ${who}; one writer per store (lock file ${lockPath})`, {
        code: 'STORE_LOCKED',
        data: { path: storePath, lockPath, pid: holder },
      });
    }
    // Stale: its owner died without close(). Re-read right before removing, so a lock another
    // opener has just taken over in between is not removed by mistake.
    if (readHolder(lockPath) !== holder) continue;
    try {
      fs.rmSync(lockPath, { force: true });
    } catch (error) {
      throw new StoreError(`cannot remove the stale outbox lock ${lockPath}: ${errorText(error)}`, { cause: error, data: { path: storePath, lockPath } });
    }
    log.warn('outbox', `took over the outbox lock ${lockPath} left by ${holder === undefined ? 'an unknown process' : `pid ${holder}`}, which is no longer running`);
  }
  throw new StoreError(`outbox store ${storePath}: could not take the lock ${lockPath} (other openers keep racing for it)`, {
    code: 'STORE_LOCKED',
    data: { path: storePath, lockPath },
  });
}

/** Remove our lock file (only if it is still ours: `token` from {@link acquireStoreLock}). */
export function releaseStoreLock(lockPath: string, token: string): void {
  try {
    if (fs.readFileSync(lockPath, 'utf8') === `${process.pid} ${token}\n`) fs.rmSync(lockPath, { force: true });
  } catch {
    // Nothing more to do: a leftover lock naming a dead pid is taken over by the next opener.
  }
}
