/**
 * Runners found by name: each running runner leaves a small connection file (`runner.json`, mode
 * 0600) in its data dir, so `agent-relay-runner status --name <name>` in another shell can reach
 * its control port without the token ever being printed. The file is removed on stop; a runner
 * that died leaves it behind, which {@link readRunnerConnection} reports as stale (its pid is gone).
 */
import { existsSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { RunnerError } from '../errors/index.js';
import { ensurePrivateDir, writePrivateJson } from './runner-files.js';
import { safeFileName } from './tslog-logger.js';
import { pidAlive } from './pid.js';

/** File name of the connection file inside a runner's data dir. */
export const RUNNER_CONNECTION_FILE = 'runner.json';

/**
 * How to reach a running runner: what `runner.json` holds.
 * @internal
 */
export interface RunnerConnection {
  /** Agent name on the relay. */
  name: string;
  /** Relay agent id. */
  agentId: string;
  /** Control port URL, `http://127.0.0.1:<port>`. */
  controlUrl: string;
  /** The control port's bearer token (the reason for mode 0600). */
  token: string;
  /** Process id of the runner. */
  pid: number;
  /** Provider name (`demo`, `claude`, `codex`, …). */
  provider: string;
  /** Runner (package) version. */
  version: string;
  /** When the runner started, ISO 8601. */
  startedAt: string;
}

/**
 * The default data dir of a runner named `name` (the same one `createRunner` uses).
 * @internal
 */
export function defaultRunnerDataDir(name: string, home: string = homedir()): string {
  return join(home, '.agent-relay', 'runners', safeFileName(name));
}

/**
 * Path of the connection file of runner `name` (in `dataDir` when given, else the default data dir).
 * @internal
 */
export function runnerConnectionPath(name: string, dataDir?: string): string {
  return join(dataDir ?? defaultRunnerDataDir(name), RUNNER_CONNECTION_FILE);
}

/**
 * Write the connection file (atomically, mode 0600; the directory is created 0700 when missing).
 * @internal
 */
export async function writeRunnerConnection(dataDir: string, connection: RunnerConnection): Promise<string> {
  await ensurePrivateDir(dataDir);
  const path = join(dataDir, RUNNER_CONNECTION_FILE);
  await writePrivateJson(path, connection);
  return path;
}

/**
 * Remove the connection file, but only when it still describes process `pid` (default: this
 * process): a second runner started on the same data dir must not lose its file to the first one's stop.
 * @internal
 */
export async function removeRunnerConnection(dataDir: string, pid: number = process.pid): Promise<void> {
  const path = join(dataDir, RUNNER_CONNECTION_FILE);
  const found = parseConnection(path);
  if (found && found.pid !== pid) return;
  await rm(path, { force: true });
}

/**
 * A connection file read back: the connection, and whether its process still runs.
 * @internal
 */
export interface FoundRunner {
  /** Where the file is. */
  path: string;
  /** Its content. */
  connection: RunnerConnection;
  /** False when the pid in the file is no longer a running process (the runner died). */
  alive: boolean;
}

/**
 * Find runner `name`: read its connection file and check its pid.
 * @throws RunnerError `INVALID_ARGUMENT` when there is no file (no such runner) or it is unreadable.
 * @internal
 */
export function readRunnerConnection(name: string, dataDir?: string, isAlive: (pid: number) => boolean = pidAlive): FoundRunner {
  const path = runnerConnectionPath(name, dataDir);
  if (!existsSync(path)) {
    throw new RunnerError('INVALID_ARGUMENT', `no runner named "${name}": ${path} does not exist (is it running? pass --data-dir if it was started with one)`, {
      data: { path },
    });
  }
  const connection = parseConnection(path);
  if (!connection) throw new RunnerError('INVALID_ARGUMENT', `the connection file of runner "${name}" (${path}) is unreadable or not a runner connection`, { data: { path } });
  return { path, connection, alive: isAlive(connection.pid) };
}

function parseConnection(path: string): RunnerConnection | undefined {
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(path, 'utf8')) as unknown;
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const v = value as Record<string, unknown>;
  const strings = ['name', 'agentId', 'controlUrl', 'token', 'provider', 'version', 'startedAt'] as const;
  if (strings.some((key) => typeof v[key] !== 'string')) return undefined;
  if (typeof v.pid !== 'number' || !Number.isSafeInteger(v.pid) || v.pid <= 0) return undefined;
  return v as unknown as RunnerConnection;
}

