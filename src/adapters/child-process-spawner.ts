import { spawn as spawnChild, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { constants as osConstants } from 'node:os';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import type { Clock } from '../ports/clock.js';
import type { LineStream, ProcessExit, ProcessSpawner, SpawnedProcess, SpawnRequest } from '../ports/process-spawner.js';
import { InvalidArgumentError, ProcessError } from '../errors/index.js';
import { createSystemClock } from './system-clock.js';
import { requireClock } from './require-clock.js';

/**
 * Options of {@link createChildProcessSpawner}.
 * @public
 */
export interface ChildProcessSpawnerOptions {
  /** Drives the SIGKILL escalation timer and the stdio drain bound (`createSystemClock()` in production). */
  clock: Clock;
  /**
   * How long `exited` waits, after the process itself exited, for its stdout/stderr to close.
   * @remarks A grandchild that inherited the pipes can hold them open forever; past this bound the
   * exit is reported anyway (later lines are still delivered).
   * @defaultValue 2000
   */
  drainMs?: number;
  /**
   * Lines kept per stream while nobody listens yet; the first listener receives them.
   * @defaultValue 1000
   */
  bufferLines?: number;
}

const DEFAULT_GRACE_MS = 5_000;

/**
 * Fans the lines of one stream out to listeners.
 * @remarks Lines that arrive before anyone subscribed are buffered (bounded) for the first listener,
 * so a caller that subscribes right after `spawn()` resolves never misses early output. The
 * splitting itself is `node:readline`'s, which is linear in the line length (a hand-written
 * "concatenate and split again" splitter is quadratic: seconds for one multi-megabyte line).
 */
class LineFanout implements LineStream {
  private readonly listeners = new Set<(line: string) => void>();
  private backlog: string[] | undefined = [];

  constructor(private readonly bufferLimit: number) {}

  onLine(listener: (line: string) => void): () => void {
    this.listeners.add(listener);
    const backlog = this.backlog;
    this.backlog = undefined;
    for (const line of backlog ?? []) this.emit(line);
    return () => {
      this.listeners.delete(listener);
    };
  }

  emit(line: string): void {
    if (this.backlog) {
      this.backlog.push(line);
      if (this.backlog.length > this.bufferLimit) this.backlog.shift();
      return;
    }
    for (const listener of [...this.listeners]) {
      try {
        listener(line);
      } catch {
        // A throwing listener must not stop the others or break the stream.
      }
    }
  }
}

/** Read `stream` line by line (`\n` or `\r\n`; a final unterminated line too) into `fanout`. */
function pumpLines(stream: Readable, fanout: LineFanout): void {
  stream.setEncoding('utf8');
  const lines = createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY });
  lines.on('line', (line) => fanout.emit(line));
  // A broken pipe ends the stream; there is nobody to tell but the exit.
  lines.on('error', () => undefined);
  stream.on('error', () => undefined);
}

function validateRequest(request: SpawnRequest): void {
  if (typeof request?.command !== 'string' || request.command === '') {
    throw new InvalidArgumentError('spawn: command must be a non-empty string');
  }
  if (!Array.isArray(request.args) || request.args.some((a) => typeof a !== 'string')) {
    throw new InvalidArgumentError('spawn: args must be an array of strings');
  }
}

function cleanEnv(env: Readonly<Record<string, string | undefined>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) if (value !== undefined) out[key] = value;
  return out;
}

function errorCode(error: unknown): string {
  const code = (error as { code?: unknown })?.code;
  return typeof code === 'string' ? code : 'UNKNOWN';
}

/**
 * The default {@link ProcessSpawner}: `node:child_process` with piped stdio.
 * @remarks The child receives exactly `request.env` (or this process's environment when omitted).
 * `kill()` signals the child itself, not its descendants, unless it was started with
 * `processGroup: true` (then it is detached into its own group and the whole group is signalled).
 * @public
 */
export function createChildProcessSpawner(options: ChildProcessSpawnerOptions): ProcessSpawner {
  // No default clock here: the composition root (createRunner) resolves it, once.
  requireClock(options?.clock, 'createChildProcessSpawner');
  const { clock } = options;
  const drainMs = options.drainMs ?? 2_000;
  const bufferLines = options.bufferLines ?? 1_000;

  return {
    async spawn(request) {
      validateRequest(request);
      const label = `${request.command}`;
      let child: ChildProcessWithoutNullStreams;
      try {
        child = spawnChild(request.command, [...request.args], {
          cwd: request.cwd,
          env: request.env === undefined ? process.env : cleanEnv(request.env),
          stdio: ['pipe', 'pipe', 'pipe'],
          windowsHide: true,
          // Its own process group (setsid), so kill() can reach the grandchildren too.
          detached: request.processGroup === true && process.platform !== 'win32',
        });
      } catch (error) {
        // Synchronous failures: bad argument types, NUL bytes, invalid cwd type.
        throw new ProcessError(`cannot start "${label}": ${errorCode(error)}`, {
          data: { command: request.command, code: errorCode(error) },
          cause: error,
        });
      }

      // Settle on 'spawn' or the first 'error' (ENOENT, EACCES, missing cwd …).
      await new Promise<void>((resolve, reject) => {
        const onSpawn = () => {
          child.off('error', onError);
          resolve();
        };
        const onError = (error: unknown) => {
          child.off('spawn', onSpawn);
          const code = errorCode(error);
          const hint = code === 'ENOENT' ? ' (command not found or cwd missing)' : '';
          reject(
            new ProcessError(`cannot start "${label}": ${code}${hint}`, {
              data: { command: request.command, code },
              cause: error,
            }),
          );
        };
        child.once('spawn', onSpawn);
        child.once('error', onError);
      });
      return wrapChild(child, label, clock, drainMs, bufferLines, request.processGroup === true && process.platform !== 'win32');
    },
  };
}

function wrapChild(
  child: ChildProcessWithoutNullStreams,
  label: string,
  clock: Clock,
  drainMs: number,
  bufferLines: number,
  group: boolean,
): SpawnedProcess {
  const stdout = new LineFanout(bufferLines);
  const stderr = new LineFanout(bufferLines);
  pumpLines(child.stdout, stdout);
  pumpLines(child.stderr, stderr);
  /** Signal the child, or its whole group; false when nothing was there to receive it. */
  const signalChild = (signal: NodeJS.Signals): boolean => {
    if (!group || child.pid === undefined) return child.kill(signal);
    try {
      process.kill(-child.pid, signal);
      return true;
    } catch {
      // ESRCH: the group is empty.
      return false;
    }
  };

  let stdinError: unknown;
  // EPIPE/ECONNRESET on stdin are expected when the child exits first; write() reports them.
  child.stdin.on('error', (error) => {
    stdinError ??= error;
  });
  // After a successful spawn 'error' only reports failed kill()s; never let it go unhandled.
  child.on('error', () => undefined);

  let recorded: ProcessExit | undefined;
  let resolveExited!: (exit: ProcessExit) => void;
  const exited = new Promise<ProcessExit>((resolve) => {
    resolveExited = resolve;
  });
  let drainTimer: ReturnType<Clock['setTimeout']> | undefined;
  let killTimer: ReturnType<Clock['setTimeout']> | undefined;
  let settled = false;
  const settle = () => {
    if (settled || !recorded) return;
    settled = true;
    clock.clearTimeout(drainTimer);
    // In a group, the escalation timer still has descendants to sweep after the leader is gone.
    if (!group) clock.clearTimeout(killTimer);
    resolveExited(recorded);
  };
  child.on('exit', (code, signal) => {
    recorded = { code, signal };
    if (!group) clock.clearTimeout(killTimer);
    drainTimer = clock.setTimeout(settle, drainMs).unref();
  });
  // 'close' follows 'exit' once stdio is drained, so every line is delivered before `exited` settles.
  child.on('close', (code, signal) => {
    recorded ??= { code, signal };
    settle();
  });

  const stdinUsable = () =>
    stdinError === undefined && !recorded && !child.stdin.destroyed && !child.stdin.writableEnded;

  return {
    pid: child.pid,
    stdout,
    stderr,
    exited,
    write(text) {
      if (typeof text !== 'string') {
        return Promise.reject(new InvalidArgumentError('write: text must be a string'));
      }
      if (!stdinUsable()) {
        const why = recorded ? 'the process has exited' : stdinError ? `stdin failed (${errorCode(stdinError)})` : 'stdin is closed';
        return Promise.reject(new ProcessError(`cannot write to "${label}": ${why}`, { data: { pid: child.pid }, cause: stdinError }));
      }
      return new Promise<void>((resolve, reject) => {
        child.stdin.write(text, (error) => {
          if (error) {
            stdinError ??= error;
            reject(
              new ProcessError(`cannot write to "${label}": stdin failed (${errorCode(error)})`, {
                data: { pid: child.pid, code: errorCode(error) },
                cause: error,
              }),
            );
          } else {
            resolve();
          }
        });
      });
    },
    endInput() {
      if (!child.stdin.destroyed && !child.stdin.writableEnded) child.stdin.end();
    },
    kill(killOptions = {}) {
      // A group outlives its leader: kill() still ends what is left of it.
      if (recorded && !group) return exited;
      const signal = killOptions.signal ?? 'SIGTERM';
      const graceMs = killOptions.graceMs ?? DEFAULT_GRACE_MS;
      if (!(signal in osConstants.signals)) {
        return Promise.reject(
          new InvalidArgumentError(`kill: unknown signal ${JSON.stringify(signal)}`, { data: { signal } }),
        );
      }
      if (!Number.isFinite(graceMs) || graceMs < 0) {
        return Promise.reject(new InvalidArgumentError('kill: graceMs must be a non-negative number', { data: { graceMs } }));
      }
      const delivered = signalChild(signal as NodeJS.Signals);
      if (recorded && !delivered) return exited;
      if (signal !== 'SIGKILL' && killTimer === undefined) {
        killTimer = clock.setTimeout(() => {
          // A group is swept even when its leader already exited: descendants may ignore SIGTERM.
          if (group || !recorded) signalChild('SIGKILL');
        }, graceMs);
        if (group) killTimer.unref();
      }
      return exited;
    },
  };
}
