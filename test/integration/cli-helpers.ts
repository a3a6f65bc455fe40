/**
 * Helpers of the CLI integration tests: build `dist/` when it is missing or stale, and run the
 * built `agent-relay-runner` as a real child process.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readdirSync, rmdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { tmpdir } from 'node:os';
import { createHash } from 'node:crypto';

export const ROOT = resolve(import.meta.dirname, '../..');
export const CLI = join(ROOT, 'dist', 'cli', 'main.js');

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(full) : statSync(full).mtimeMs);
  }
  return newest;
}

function builtAt(): number {
  try {
    return statSync(CLI).mtimeMs;
  } catch {
    return 0;
  }
}

/**
 * Build with tsc when `dist/cli/main.js` is missing or older than any file under `src/`
 * (`npm test` builds first, so this is for `npx vitest run test/integration/cli-*.test.ts`).
 * A lock directory keeps two test files from building into `dist/` at the same time.
 */
export async function ensureBuilt(): Promise<void> {
  const lock = join(tmpdir(), `agent-relay-runner-cli-build-${createHash('sha256').update(ROOT).digest('hex').slice(0, 12)}.lock`);
  const deadline = Date.now() + 180_000;
  for (;;) {
    if (builtAt() >= newestMtime(join(ROOT, 'src'))) return;
    try {
      mkdirSync(lock);
    } catch {
      if (Date.now() > deadline) throw new Error(`timed out waiting for another build (remove ${lock} if it is stale)`);
      await new Promise((r) => setTimeout(r, 200));
      continue;
    }
    try {
      if (builtAt() < newestMtime(join(ROOT, 'src'))) {
        try {
          execFileSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'], {
            cwd: ROOT,
            stdio: 'pipe',
          });
        } catch (error) {
          // tsc still emits on type errors (someone else's work in progress); the CLI tests then run
          // against fresh output. Only a build that produced no CLI at all is fatal here.
          if (builtAt() === 0) throw error;
          const out = (error as { stdout?: Buffer }).stdout?.toString() ?? '';
          console.warn(`tsc reported errors while building dist/ for the CLI tests:\n${out.slice(0, 2000)}`);
        }
      }
      return;
    } finally {
      rmdirSync(lock);
    }
  }
}

/** An environment without the host's AGENT_RELAY_* settings (the test sets what it needs). */
export function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && !key.startsWith('AGENT_RELAY_')) env[key] = value;
  }
  return { ...env, ...extra };
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** A running CLI process with its output so far. */
export interface CliProcess {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves when the process has exited. */
  done: Promise<CliResult>;
}

/** Start `agent-relay-runner <args>`; killed after `killAfterMs` so a hang fails the test, never blocks it. */
export function startCli(args: string[], options: { env?: Record<string, string>; stdin?: string; killAfterMs?: number } = {}): CliProcess {
  const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, env: options.env ?? cleanEnv(), stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  if (options.stdin !== undefined) child.stdin.end(options.stdin);
  const killer = setTimeout(() => child.kill('SIGKILL'), options.killAfterMs ?? 60_000);
  const done = new Promise<CliResult>((resolveDone) => {
    child.on('close', (code, signal) => {
      clearTimeout(killer);
      resolveDone({ code, signal, stdout, stderr });
    });
  });
  return { child, stdout: () => stdout, stderr: () => stderr, done };
}

/** Run `agent-relay-runner <args>` to completion. */
export function runCli(args: string[], options: { env?: Record<string, string>; stdin?: string; killAfterMs?: number } = {}): Promise<CliResult> {
  // Commands that don't read stdin still get it closed, so a stray read can never hang.
  return startCli(args, { stdin: '', ...options }).done;
}

/** Poll `check` until truthy or the deadline passes. */
export async function waitFor<T>(check: () => T | Promise<T>, what: string, timeoutMs = 20_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Parse every non-empty line as JSON (throws on the first line that is not). */
export function jsonLines(text: string): Array<Record<string, unknown>> {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}
