import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Clock } from '../ports/clock.js';
import type { ProcessExit, SpawnedProcess } from '../ports/process-spawner.js';
import type {
  ProviderAdapter,
  ProviderCapabilities,
  ProviderDeps,
  ProviderEvent,
  ProviderLaunch,
  ProviderSession,
  ProviderTurn,
  TerminalAttachSpec,
} from '../ports/provider.js';
import { ProviderError } from '../errors/index.js';
import { CLAUDE_CODE_MIN_VERSION, CLAUDE_PLUGIN_DIR, createClaudeCodeProvider } from './claude-code.js';
import { describeError } from '../shared/describe-error.js';
import { withClaudeHooks } from './claude/hook-routes.js';

/**
 * Options of {@link createClaudeInteractiveProvider}.
 * @public
 */
export interface ClaudeInteractiveProviderOptions {
  /**
   * The `claude` executable: a name on `PATH` or an absolute path.
   * @defaultValue `'claude'`
   */
  command?: string;
  /**
   * The `tmux` executable that provides the pseudo-terminal.
   * @defaultValue `'tmux'`
   */
  tmuxCommand?: string;
  /**
   * Directory loaded with `--plugin-dir` (this package's hooks); `false` loads none. Without the
   * hooks this provider sees no turns at all (it is hook-driven), so only hosts with their own
   * hook wiring should turn it off.
   * @defaultValue {@link CLAUDE_PLUGIN_DIR}
   */
  pluginDir?: string | false;
  /**
   * Tools allowed without a permission prompt (`--allowedTools`).
   * @defaultValue `['Bash(agent-relay-runner send:*)']`
   */
  allowedTools?: readonly string[];
  /**
   * Arguments appended to every launch, before the launch's own `extraArgs`.
   * @defaultValue `[]`
   */
  extraArgs?: readonly string[];
  /**
   * Variables set on top of the launch environment (e.g. `ANTHROPIC_BASE_URL`, `CLAUDE_CONFIG_DIR`).
   * @defaultValue `{}`
   */
  env?: Readonly<Record<string, string>>;
  /**
   * Oldest accepted `claude --version`.
   * @defaultValue {@link CLAUDE_CODE_MIN_VERSION}
   */
  minVersion?: string;
  /**
   * Parent of the private (0700) directory holding the tmux socket, the wrapper script and the
   * exit-status file. Keep it short: a Unix socket path is limited to about 100 bytes.
   * @defaultValue `os.tmpdir()`
   */
  socketParentDir?: string;
  /**
   * Terminal size of the tmux window (columns, rows). Wide enough that long prompts don't wrap the
   * status line off the screen the adapter reads.
   * @defaultValue `{ columns: 200, rows: 50 }`
   */
  size?: { columns: number; rows: number };
  /**
   * How often the adapter looks at the screen (to type held turns) and for the exit-status file.
   * @defaultValue 250
   */
  pollMs?: number;
  /**
   * How long a turn waits for the TUI's input box before the delivery fails (and the runner
   * requeues it). A first-run dialog the config did not answer shows up here: the warning carries
   * the screen text.
   * @defaultValue 45000
   */
  readyTimeoutMs?: number;
  /**
   * Screen text that means the input box is shown and empty (a rule line, the `❯` prompt with
   * nothing after it, then the next line).
   * @defaultValue `/─{20,}\n❯[^\S\n]*\n/`
   */
  readyPattern?: RegExp;
  /**
   * Screen text that means a turn is running (Claude Code's status line says how to interrupt it).
   * @defaultValue `/esc to interrupt/i`
   */
  busyPattern?: RegExp;
  /**
   * How long after submitting a turn the adapter treats the TUI as busy even if the screen does
   * not say so yet (the spinner takes a moment to paint).
   * @defaultValue 1500
   */
  submitSettleMs?: number;
  /**
   * How long `stop()` waits after typing `/exit` before it kills the tmux server.
   * @defaultValue 5000
   */
  stopGraceMs?: number;
  /**
   * How long one `tmux` command may take.
   * @defaultValue 10000
   */
  tmuxTimeoutMs?: number;
  /**
   * How long `checkVersion()` waits for `claude --version` and `tmux -V`.
   * @defaultValue 20000
   */
  versionTimeoutMs?: number;
}

/** Interactive: turns come from the hooks; input is typed (bracketed paste) into the TUI. */
const CAPABILITIES: ProviderCapabilities = Object.freeze({
  structuredInput: false,
  resume: true,
  interactive: true,
  hookDriven: true,
  midTurnMessages: 'queue',
});

const COMPONENT = 'provider';
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** The input box holds text (a human's draft, or a prompt Claude put back after an interrupt). */
const INPUT_NOT_EMPTY = /─{20,}\n❯[^\S\n]*\S/;
/** How long `interrupt()` waits for the running turn to leave the screen. */
const INTERRUPT_SETTLE_MS = 5_000;


/** A POSIX shell single-quoted word. */
function shellQuote(value: string): string {
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

interface TmuxResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The last `lines` non-blank lines of a screen, for warnings. */
function screenTail(screen: string, lines = 12): string {
  return screen
    .split('\n')
    .filter((l) => l.trim() !== '')
    .slice(-lines)
    .map((l) => l.trimEnd())
    .join('\n');
}

interface Settings {
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
}

/** Runs one tmux command through the runner's spawner, bounded by the clock. */
async function runTmux(deps: ProviderDeps, s: Settings, env: Record<string, string> | undefined, args: string[], input?: string): Promise<TmuxResult> {
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
  const exit = await withTimeout(child.exited, s.tmuxTimeoutMs, deps.clock);
  if (!exit) {
    await child.kill({ signal: 'SIGKILL' });
    throw new ProviderError(`${s.tmux} ${args[2] ?? ''} did not finish within ${s.tmuxTimeoutMs} ms`, { data: { args } });
  }
  return { code: exit.code, stdout: out.join('\n'), stderr: err.join('\n') };
}

async function withTimeout<T>(promise: Promise<T>, ms: number, clock: Clock): Promise<T | undefined> {
  let timer: ReturnType<Clock['setTimeout']> | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = clock.setTimeout(() => resolve(undefined), ms).unref();
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clock.clearTimeout(timer);
  }
}

function sleep(clock: Clock, ms: number): Promise<void> {
  return new Promise((resolve) => {
    clock.setTimeout(resolve, ms).unref();
  });
}

interface HeldTurn {
  turn: ProviderTurn;
  /** Since when the screen has been neither busy nor ready (the ready timeout counts from here). */
  waitingSince: number;
  resolve: () => void;
  reject: (error: Error) => void;
}

/**
 * Claude Code, interactive: the TUI (`claude`, no `-p`) inside a detached tmux session on a private
 * socket, so a human can attach, watch and type (SPEC §9).
 *
 * @remarks
 * tmux is the pseudo-terminal: no native module to build, and it works in any host (Electron
 * included) where `tmux` is installed; a PTY library such as node-pty is the alternative when tmux
 * is not available. Each `start()` makes a private 0700 directory with the tmux socket, a 0600 env
 * file (the runner's environment, control token included, so no secret is on a command line
 * visible in `ps`; the wrapper deletes it once sourced) and a 0700 wrapper script that runs
 * `claude --plugin-dir PACKAGE_ROOT [--resume ID]` in the agent's cwd and writes its exit status
 * to a file, which the adapter polls to settle `exited`.
 *
 * The TUI has no structured input, so this is the one place keystrokes are right: a turn is
 * loaded into a tmux buffer and pasted (bracketed paste, so newlines don't submit early), then
 * Enter is sent. Turns are held until the screen shows the input box and no running turn, so one
 * relay message is one turn (the TUI would otherwise merge queued messages into one prompt);
 * `deliver()` resolves once the turn is typed. Everything else (session id, consumption through
 * UserPromptSubmit, the final reply from Stop, subagents, permissions) comes from the hooks
 * (`hookDriven: true`). `interrupt()` sends Escape; `stop()` types `/exit`, then kills the tmux
 * server. The config home must already mark onboarding complete and the cwd trusted (see
 * docs/providers.md), or the TUI stops at a first-run dialog; the delivery then fails with the
 * screen text in a warning.
 * @public
 */
export function createClaudeInteractiveProvider(options: ClaudeInteractiveProviderOptions = {}): ProviderAdapter {
  const command = options.command ?? 'claude';
  const pluginDir = options.pluginDir === undefined ? CLAUDE_PLUGIN_DIR : options.pluginDir;
  const allowedTools = [...(options.allowedTools ?? ['Bash(agent-relay-runner send:*)'])];
  const extraArgs = [...(options.extraArgs ?? [])];
  const extraEnv = { ...(options.env ?? {}) };
  const versionTimeoutMs = options.versionTimeoutMs ?? 20_000;
  const settings: Settings = {
    tmux: options.tmuxCommand ?? 'tmux',
    columns: options.size?.columns ?? 200,
    rows: options.size?.rows ?? 50,
    pollMs: options.pollMs ?? 250,
    readyTimeoutMs: options.readyTimeoutMs ?? 45_000,
    readyPattern: options.readyPattern ?? /─{20,}\n❯[^\S\n]*\n/,
    busyPattern: options.busyPattern ?? /esc to interrupt/i,
    submitSettleMs: options.submitSettleMs ?? 1_500,
    stopGraceMs: options.stopGraceMs ?? 5_000,
    tmuxTimeoutMs: options.tmuxTimeoutMs ?? 10_000,
  };
  // The version check is the headless adapter's (same binary, same rule).
  const versionCheck = createClaudeCodeProvider({ command, minVersion: options.minVersion ?? CLAUDE_CODE_MIN_VERSION, versionTimeoutMs });

  return {
    name: 'claude-interactive',
    capabilities: CAPABILITIES,

    async checkVersion(deps: ProviderDeps): Promise<string> {
      const version = await versionCheck.checkVersion(deps);
      let result: TmuxResult;
      try {
        result = await runTmux(deps, { ...settings, tmuxTimeoutMs: versionTimeoutMs }, undefined, ['-V']);
      } catch (error) {
        throw new ProviderError(`tmux not found: the interactive Claude provider needs "${settings.tmux}" (${describeError(error)})`, {
          data: { command: settings.tmux },
          cause: error,
        });
      }
      if (result.code !== 0) {
        throw new ProviderError(`"${settings.tmux} -V" failed (${result.code}): ${result.stderr || result.stdout}`, { data: { command: settings.tmux } });
      }
      deps.logger.info(COMPONENT, `tmux: ${result.stdout.trim()}`);
      return version;
    },

    async start(launch: ProviderLaunch, deps: ProviderDeps): Promise<ProviderSession> {
      const { logger, clock } = deps;
      const dir = await mkdtemp(join(options.socketParentDir ?? tmpdir(), 'arr-tmux-'));
      await chmod(dir, 0o700);
      const socket = join(dir, 'tmux.sock');
      const envFile = join(dir, 'env');
      const script = join(dir, 'run.sh');
      const exitFile = join(dir, 'exit');
      const tmuxConf = join(dir, 'tmux.conf');
      const name = `arr-${randomBytes(4).toString('hex')}`;
      const env = { ...launch.env, ...extraEnv };

      const envLines: string[] = [];
      for (const [key, value] of Object.entries(env)) {
        if (!ENV_NAME.test(key)) {
          logger.warn(COMPONENT, `claude-interactive: skipped environment variable with an unusable name (${JSON.stringify(key).slice(0, 60)})`);
          continue;
        }
        envLines.push(`${key}=${shellQuote(value)}`);
      }
      await writeFile(envFile, `${envLines.join('\n')}\n`, { mode: 0o600 });

      const args: string[] = [];
      if (pluginDir !== false) args.push('--plugin-dir', pluginDir);
      if (allowedTools.length > 0) args.push('--allowedTools', allowedTools.join(','));
      args.push(...extraArgs, ...(launch.extraArgs ?? []));
      if (launch.resumeSessionId !== undefined) args.push('--resume', launch.resumeSessionId);
      const wrapper = [
        '#!/bin/sh',
        '# Written by agent-relay-runner: runs Claude Code in this tmux pane and records its exit status.',
        'set -a',
        `. ${shellQuote(envFile)}`,
        'set +a',
        `rm -f ${shellQuote(envFile)}`,
        // The agent is not "inside tmux" as far as its own tools are concerned.
        'unset TMUX TMUX_PANE',
        `cd ${shellQuote(launch.cwd)} || { echo 126 > ${shellQuote(`${exitFile}.tmp`)}; mv ${shellQuote(`${exitFile}.tmp`)} ${shellQuote(exitFile)}; exit 126; }`,
        [command, ...args].map(shellQuote).join(' '),
        `echo $? > ${shellQuote(`${exitFile}.tmp`)}`,
        `mv ${shellQuote(`${exitFile}.tmp`)} ${shellQuote(exitFile)}`,
        '',
      ].join('\n');
      await writeFile(script, wrapper, { mode: 0o700 });
      // Our own config (never the user's ~/.tmux.conf). A dead pane stays until the adapter has read
      // its last screen: when Claude exits at a first-run check, that screen is the only diagnosis.
      await writeFile(tmuxConf, 'set -g remain-on-exit on\nset -g history-limit 5000\n', { mode: 0o600 });

      // tmux itself gets no secrets: only what it needs to run and render UTF-8.
      const tmuxEnv: Record<string, string> = {
        PATH: env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
        HOME: env.HOME ?? dir,
        LANG: env.LANG ?? 'C.UTF-8',
        TERM: 'xterm-256color',
      };
      const tmux = (tmuxArgs: string[], input?: string): Promise<TmuxResult> =>
        runTmux(deps, settings, tmuxEnv, ['-u', '-f', tmuxConf, '-S', socket, ...tmuxArgs], input);

      const created = await tmux(['new-session', '-d', '-s', name, '-x', String(settings.columns), '-y', String(settings.rows), script]).catch(
        async (error: unknown) => {
          await rm(dir, { recursive: true, force: true });
          throw error;
        },
      );
      if (created.code !== 0) {
        await rm(dir, { recursive: true, force: true });
        throw new ProviderError(`cannot start Claude Code in tmux: ${created.stderr || `exit ${created.code}`}`, { data: { command, cwd: launch.cwd } });
      }
      const pidOut = await tmux(['display-message', '-p', '-t', name, '#{pane_pid}']).catch(() => undefined);
      const pid = pidOut && pidOut.code === 0 ? Number.parseInt(pidOut.stdout.trim(), 10) || undefined : undefined;
      const resumeNote = launch.resumeSessionId === undefined ? '' : ` resuming ${launch.resumeSessionId}`;
      logger.info(COMPONENT, `claude started interactive in tmux session ${name} (wrapper pid ${pid ?? '?'})${resumeNote}`);
      return withClaudeHooks(createInteractiveSession({ deps, settings, tmux, dir, socket, name, exitFile, pid, startedAt: clock.now() }), deps, CAPABILITIES);
    },
  };
}

interface SessionParts {
  deps: ProviderDeps;
  settings: Settings;
  tmux: (args: string[], input?: string) => Promise<TmuxResult>;
  dir: string;
  socket: string;
  name: string;
  exitFile: string;
  pid: number | undefined;
  startedAt: number;
}

function createInteractiveSession(p: SessionParts): ProviderSession {
  const { deps, settings, tmux, name } = p;
  const { logger, clock } = deps;
  const listeners = new Set<(event: ProviderEvent) => void>();
  const held: HeldTurn[] = [];
  let exitRecord: ProcessExit | undefined;
  let stopping: Promise<ProcessExit> | undefined;
  let typing = false;
  let busyUntil = 0;
  let polling = false;
  let settling = false;
  let resolveExit: (exit: ProcessExit) => void = () => {};
  const exited = new Promise<ProcessExit>((resolve) => {
    resolveExit = resolve;
  });

  const dispatch = (event: ProviderEvent): void => {
    for (const listener of [...listeners]) {
      try {
        listener(event);
      } catch (error) {
        logger.error(COMPONENT, `claude-interactive event listener threw on ${event.type}: ${describeError(error)}`);
      }
    }
  };

  const capture = async (): Promise<string | undefined> => {
    const result = await tmux(['capture-pane', '-p', '-t', name]).catch(() => undefined);
    return result && result.code === 0 ? result.stdout : undefined;
  };

  const finish = (exit: ProcessExit): void => {
    if (exitRecord) return;
    exitRecord = exit;
    clock.clearInterval(timer);
    for (const h of held.splice(0)) h.reject(new ProviderError(`cannot deliver ${h.turn.deliveryId}: claude exited`, { data: { pid: p.pid } }));
    const how = exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`;
    logger.info(COMPONENT, `claude (tmux session ${name}) exited with ${how}`);
    // The server has nothing left to serve; the private directory goes with it.
    void tmux(['kill-server'])
      .catch(() => undefined)
      .finally(() => rm(p.dir, { recursive: true, force: true }).catch(() => undefined))
      .finally(() => resolveExit(exit));
  };

  /** The pane's exit, when it is dead or gone; undefined while Claude runs (or tmux could not tell). */
  const paneExit = async (): Promise<ProcessExit | undefined> => {
    const result = await tmux(['display-message', '-p', '-t', name, '#{pane_dead} #{pane_dead_status}']).catch(() => undefined);
    if (!result) return undefined;
    if (result.code !== 0) return readExitFile() ?? { code: null, signal: 'SIGHUP' }; // session gone
    const [dead, status] = result.stdout.trim().split(' ');
    if (dead !== '1') return undefined;
    const code = Number.parseInt(status ?? '', 10);
    return readExitFile() ?? { code: Number.isFinite(code) ? code : null, signal: Number.isFinite(code) ? null : 'SIGKILL' };
  };

  /** Claude ended: say why when it was not asked to (its last screen), then settle. */
  const settle = async (exit: ProcessExit): Promise<void> => {
    if (exitRecord || settling) return;
    settling = true;
    if (!stopping && exit.code !== 0) {
      const screen = await capture();
      if (screen !== undefined && screen.trim() !== '') {
        const message = `claude-interactive: Claude Code exited (${exit.code ?? exit.signal}); its last screen:\n${screenTail(screen)}`;
        logger.warn(COMPONENT, message);
        dispatch({ type: 'warning', message });
      }
    }
    finish(exit);
  };

  const readExitFile = (): ProcessExit | undefined => {
    if (!existsSync(p.exitFile)) return undefined;
    const code = Number.parseInt(readFileSync(p.exitFile, 'utf8').trim(), 10);
    return { code: Number.isFinite(code) ? code : null, signal: null };
  };

  /** Type one turn: paste (bracketed), then Enter. */
  const type = async (h: HeldTurn): Promise<void> => {
    const buffer = `arr-${h.turn.deliveryId}`.replace(/[^A-Za-z0-9_-]/g, '_');
    const loaded = await tmux(['load-buffer', '-b', buffer, '-'], sanitizeTypedText(h.turn.text));
    if (loaded.code !== 0) throw new ProviderError(`tmux load-buffer failed: ${loaded.stderr}`, { data: { deliveryId: h.turn.deliveryId } });
    const pasted = await tmux(['paste-buffer', '-p', '-d', '-b', buffer, '-t', name]);
    if (pasted.code !== 0) throw new ProviderError(`tmux paste-buffer failed: ${pasted.stderr}`, { data: { deliveryId: h.turn.deliveryId } });
    // Let the TUI finish taking the paste before Enter submits it.
    await sleep(clock, 300);
    const entered = await tmux(['send-keys', '-t', name, 'Enter']);
    if (entered.code !== 0) throw new ProviderError(`tmux send-keys failed: ${entered.stderr}`, { data: { deliveryId: h.turn.deliveryId } });
  };

  const tick = async (): Promise<void> => {
    if (polling || exitRecord) return;
    polling = true;
    try {
      const ended = readExitFile() ?? (await paneExit());
      if (ended) return await settle(ended);
      if (held.length === 0 || typing || stopping) return;
      const screen = await capture();
      if (screen === undefined) return;
      const head = held[0];
      if (!head) return;
      const now = clock.now();
      const busy = settings.busyPattern.test(screen) || now < busyUntil;
      const ready = !busy && settings.readyPattern.test(screen);
      if (!ready) {
        // A running turn is not "not ready": the timeout is for a screen that never offers input.
        if (busy) head.waitingSince = now;
        else if (now - head.waitingSince > settings.readyTimeoutMs) {
          held.shift();
          const message = `claude-interactive: the TUI did not show its input box within ${settings.readyTimeoutMs} ms; screen:\n${screenTail(screen)}`;
          logger.warn(COMPONENT, message);
          dispatch({ type: 'warning', message });
          head.reject(new ProviderError(`cannot deliver ${head.turn.deliveryId}: the Claude Code TUI is not ready for input`, { data: { pid: p.pid } }));
        }
        return;
      }
      held.shift();
      typing = true;
      try {
        await type(head);
        busyUntil = clock.now() + settings.submitSettleMs;
        logger.debug(COMPONENT, `claude-interactive: typed turn ${head.turn.deliveryId}`);
        head.resolve();
      } catch (error) {
        head.reject(error instanceof Error ? error : new Error(String(error)));
      } finally {
        typing = false;
      }
    } catch (error) {
      logger.warn(COMPONENT, `claude-interactive poll failed: ${describeError(error)}`);
    } finally {
      polling = false;
    }
  };

  const timer = clock.setInterval(() => void tick(), settings.pollMs);
  timer.unref();

  return {
    pid: p.pid,
    exited,
    deliver(turn: ProviderTurn): Promise<void> {
      if (exitRecord || stopping) {
        return Promise.reject(new ProviderError(`cannot deliver ${turn.deliveryId}: claude is ${stopping ? 'stopping' : 'not running'}`, { data: { pid: p.pid } }));
      }
      return new Promise<void>((resolve, reject) => {
        held.push({ turn, waitingSince: clock.now(), resolve, reject });
        void tick();
      });
    },
    async interrupt(): Promise<void> {
      if (exitRecord || stopping) return;
      try {
        const before = await capture();
        await tmux(['send-keys', '-t', name, 'Escape']);
        if (before === undefined || !settings.busyPattern.test(before)) return;
        // No hook reports an interrupted turn (Stop does not run), so the adapter ends it once the
        // turn has left the screen.
        const deadline = clock.now() + INTERRUPT_SETTLE_MS;
        let screen: string | undefined;
        while (clock.now() < deadline) {
          await sleep(clock, settings.pollMs);
          screen = await capture();
          if (screen !== undefined && !settings.busyPattern.test(screen)) break;
        }
        // Interrupted before the model answered, Claude puts the prompt back into the input box;
        // clear it (Esc, then "esc again to clear") so it neither blocks nor merges into the next turn.
        if (screen !== undefined && INPUT_NOT_EMPTY.test(screen)) {
          await tmux(['send-keys', '-t', name, 'Escape']);
          await sleep(clock, 300);
          await tmux(['send-keys', '-t', name, 'Escape']);
        }
        busyUntil = clock.now() + settings.submitSettleMs;
        dispatch({ type: 'turn.completed', interrupted: true });
      } catch (error) {
        logger.warn(COMPONENT, `claude-interactive: interrupt not sent: ${describeError(error)}`);
      }
    },
    decidePermission(requestId: string): void {
      // Permission requests arrive through the PermissionRequest hook and are answered there (or
      // left to Claude's own dialog on timeout); nothing reaches the adapter.
      logger.debug(COMPONENT, `claude-interactive: ignored decision for permission request ${requestId} (hooks answer those)`);
    },
    onEvent(listener: (event: ProviderEvent) => void): () => void {
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },
    attachSpec(): TerminalAttachSpec {
      if (exitRecord) return { kind: 'none' };
      return { kind: 'tmux', command: [settings.tmux, '-S', p.socket, 'attach-session', '-t', name] };
    },
    stop(): Promise<ProcessExit> {
      stopping ??= (async () => {
        if (exitRecord) return exitRecord;
        for (const h of held.splice(0)) h.reject(new ProviderError(`cannot deliver ${h.turn.deliveryId}: claude is stopping`, { data: { pid: p.pid } }));
        // A clean exit runs the SessionEnd hook: Escape clears a running turn or a half-typed line.
        try {
          await tmux(['send-keys', '-t', name, 'Escape']);
          await sleep(clock, 200);
          await tmux(['send-keys', '-t', name, '-l', '/exit']);
          await sleep(clock, 200);
          await tmux(['send-keys', '-t', name, 'Enter']);
        } catch (error) {
          logger.warn(COMPONENT, `claude-interactive: /exit not typed: ${describeError(error)}`);
        }
        const deadline = clock.now() + settings.stopGraceMs;
        while (!exitRecord && clock.now() < deadline) {
          await sleep(clock, settings.pollMs);
          await tick();
        }
        while (settling && !exitRecord) await sleep(clock, settings.pollMs);
        if (!exitRecord) {
          logger.warn(COMPONENT, `claude (tmux session ${name}) did not exit after /exit; killing the tmux server`);
          await tmux(['kill-server']).catch(() => undefined);
          finish(readExitFile() ?? { code: null, signal: 'SIGHUP' });
        }
        return exited;
      })();
      return stopping;
    },
  };
}
