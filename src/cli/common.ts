/**
 * Shared pieces of the `agent-relay-runner` commands: errors, output, small waits.
 * The CLI is a thin layer: it validates flags, calls the library, and prints.
 */
import { readFileSync } from 'node:fs';
import { createSystemClock } from '../adapters/system-clock.js';
import { InvalidArgumentError, RunnerError } from '../errors/index.js';
import type { Clock } from '../ports/clock.js';

/** The one clock every command uses (nothing in `src/` calls timers directly). */
export const cliClock: Clock = createSystemClock();

/** Exit code of a failed command (usage errors, unreachable runner, refused request). */
export const EXIT_FAILURE = 1;

/** The package version, read once from package.json (two levels up from `src/cli` and `dist/cli`). */
export function readCliVersion(): string {
  try {
    const text = readFileSync(new URL('../../package.json', import.meta.url), 'utf8');
    return (JSON.parse(text) as { version?: string }).version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

/** A usage error the user can fix by changing flags or environment (exit 1, message only). */
export function usageError(message: string): InvalidArgumentError {
  return new InvalidArgumentError(message);
}

/** The one-line message printed for any error that reaches the top of a command. */
export function errorLine(error: unknown): string {
  if (error instanceof RunnerError) return error.message;
  if (error instanceof Error) return error.message || error.name;
  return String(error);
}

/** Where a command prints: stdout for results and events, stderr for errors. */
export interface CliOutput {
  /** Print one line on stdout. */
  line(text: string): void;
  /** Print one JSON object as one line on stdout. */
  json(value: Record<string, unknown>): void;
  /** Print one line on stderr. */
  error(text: string): void;
}

/** The process's own stdout/stderr. */
export const processOutput: CliOutput = {
  line: (text) => void (process.stdout.writable && process.stdout.write(`${text}\n`)),
  json: (value) => void (process.stdout.writable && process.stdout.write(`${JSON.stringify(value)}\n`)),
  error: (text) => void process.stderr.write(`${text}\n`),
};

/** Resolve after `ms` on the CLI clock. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => cliClock.setTimeout(resolve, ms));
}

/**
 * Poll `check` every `intervalMs` until it returns a truthy value; reject with a clear message
 * when `deadline` (epoch ms on the CLI clock) passes or `signal` aborts.
 */
export async function waitUntil<T>(
  check: () => T | undefined | false | null,
  what: string,
  options: { deadline: number; signal?: AbortSignal; intervalMs?: number },
): Promise<T> {
  for (;;) {
    const value = check();
    if (value) return value;
    if (options.signal?.aborted) throw new RunnerError('CLOSED', `stopped while waiting for ${what}`);
    if (cliClock.now() > options.deadline) throw new RunnerError('TIMEOUT', `timed out waiting for ${what}`);
    await sleep(options.intervalMs ?? 25);
  }
}

/** Parse a positive integer flag value (commander `argParser`). */
export function positiveInt(name: string): (value: string) => number {
  return (value: string) => {
    const n = Number(value);
    if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n <= 0) {
      throw usageError(`${name} must be a positive integer, got "${value}"`);
    }
    return n;
  };
}

/** Text shortened to one line of at most `max` characters, for human output. */
export function oneLine(text: string, max = 120): string {
  const line = text.replace(/\s*[\r\n]+\s*/g, ' ⏎ ').trim();
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

/** `14:03:27`: local wall-clock time of an epoch-ms instant, for human lines. */
export function clockTime(ms: number): string {
  const d = new Date(ms);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}

/** A command line to copy into a shell: words with anything but safe characters single-quoted. */
export function shellLine(words: readonly string[]): string {
  return words.map((w) => (/^[\w@%+=:,./-]+$/.test(w) ? w : `'${w.replace(/'/g, "'\\''")}'`)).join(' ');
}
