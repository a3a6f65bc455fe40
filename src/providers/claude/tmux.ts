import type { SpawnedProcess } from '../../ports/process-spawner.js';
import type { ProviderDeps, ProviderTurn } from '../../ports/provider.js';
import { ProviderError } from '../../errors/index.js';
import { describeError } from '../../shared/describe-error.js';
import { settlesWithin } from '../kit/text.js';

// The tmux side of the interactive Claude provider: running tmux commands through the runner's
// spawner, quoting for the wrapper script, and what is typed into the TUI.

/** An environment variable name a POSIX shell accepts. */
export const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** The input box holds text (a human's draft, or a prompt Claude put back after an interrupt). */
const INPUT_NOT_EMPTY = /─{20,}\n❯[^\S\n]*\S/;
/** How long `interrupt()` waits for the running turn to leave the screen. */
const INTERRUPT_SETTLE_MS = 5_000;


/** A POSIX shell single-quoted word. */
export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/**
 * Text as typed into the TUI: C0 controls other than newline and tab are removed, so a message
 * can never end the bracketed paste early (ESC `[201~`) or press keys of its own.
 * @internal
 */
export function sanitizeTypedText(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/\r\n?/g, '\n').replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, '');
}

/** What one tmux command printed and how it exited. */
export interface TmuxResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The last `lines` non-blank lines of a screen, for warnings. */
export function screenTail(screen: string, lines = 12): string {
  return screen
    .split('\n')
    .filter((l) => l.trim() !== '')
    .slice(-lines)
    .map((l) => l.trimEnd())
    .join('\n');
}

/** The interactive provider's resolved settings. */
export interface Settings {
  tmux: string;
  columns: number;
  rows: number;
  pollMs: number;
  readyTimeoutMs: number;
  readyPattern: RegExp;
  busyPattern: RegExp;
  submitSettleMs: number;
  stopGraceMs: number;
  tmuxTimeoutMs: number;
  /** The attach command is read-only (`attach-session -r`). */
  attachReadOnly: boolean;
}

/** Runs one tmux command through the runner's spawner, bounded by the clock. */
export async function runTmux(deps: ProviderDeps, s: Settings, env: Record<string, string> | undefined, args: string[], input?: string): Promise<TmuxResult> {
  let child: SpawnedProcess;
  try {
    child = await deps.spawner.spawn({ command: s.tmux, args, ...(env ? { env } : {}) });
  } catch (error) {
    throw new ProviderError(`cannot run ${s.tmux}: ${describeError(error)}`, { data: { command: s.tmux }, cause: error });
  }
  const out: string[] = [];
  const err: string[] = [];
  child.stdout.onLine((l) => out.push(l));
  child.stderr.onLine((l) => err.push(l));
  if (input !== undefined) {
    await child.write(input).catch(() => {});
  }
  child.endInput();
  if (!(await settlesWithin(child.exited, s.tmuxTimeoutMs, deps.clock))) {
    await child.kill({ signal: 'SIGKILL' });
    throw new ProviderError(`${s.tmux} ${args[2] ?? ''} did not finish within ${s.tmuxTimeoutMs} ms`, { data: { args } });
  }
  const exit = await child.exited;
  return { code: exit.code, stdout: out.join('\n'), stderr: err.join('\n') };
}

/** A turn waiting for the TUI's input box. */
export interface HeldTurn {
  turn: ProviderTurn;
  /** Since when the screen has been neither busy nor ready (the ready timeout counts from here). */
  waitingSince: number;
  resolve: () => void;
  reject: (error: Error) => void;
}

/** The wrapper the tmux pane runs: loads (then deletes) the env file, runs Claude in `cwd`, records its exit status. */
export function wrapperScript(envFile: string, cwd: string, commandLine: readonly string[], exitFile: string): string {
  return [
    '#!/bin/sh',
    '# Written by agent-relay-runner: runs Claude Code in this tmux pane and records its exit status.',
    'set -a',
    `. ${shellQuote(envFile)}`,
    'set +a',
    `rm -f ${shellQuote(envFile)}`,
    // The agent is not "inside tmux" as far as its own tools are concerned.
    'unset TMUX TMUX_PANE',
    `cd ${shellQuote(cwd)} || { echo 126 > ${shellQuote(`${exitFile}.tmp`)}; mv ${shellQuote(`${exitFile}.tmp`)} ${shellQuote(exitFile)}; exit 126; }`,
    commandLine.map(shellQuote).join(' '),
    `echo $? > ${shellQuote(`${exitFile}.tmp`)}`,
    `mv ${shellQuote(`${exitFile}.tmp`)} ${shellQuote(exitFile)}`,
    '',
  ].join('\n');
}
