// Simulating a crash of a sql.js outbox store inside one test process: the abandoned store still
// holds `<path>.lock` under this (live) pid, so the lock is rewritten to name a pid that has
// exited, which is exactly what a killed process leaves behind.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { pidAlive } from '../../src/adapters/pid.js';

let deadPid: number | undefined;

/**
 * The pid of a child that has already exited (and been reaped). Checked again at each call: on a
 * busy machine with a small pid space the number may have been given to a new process meanwhile.
 */
export function exitedPid(): number {
  if (deadPid === undefined || pidAlive(deadPid)) deadPid = spawnSync(process.execPath, ['-e', '']).pid;
  return deadPid!;
}

/** Make the store at `file` look as if its writer was killed: its lock names a dead pid. */
export function abandonOutboxLock(file: string): void {
  fs.writeFileSync(`${file}.lock`, `${exitedPid()} crashed\n`, { mode: 0o600 });
}
