import { fileURLToPath } from 'node:url';
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
import { isRunnerError, ProviderError } from '../errors/index.js';
import { COMPONENT, EventFanout, probeVersion, shorten, stopChild } from './process-session.js';
import { describeError } from '../shared/describe-error.js';
import { withClaudeHooks } from './claude/hook-routes.js';

/**
 * Root of this package, which is also its Claude Code plugin (`.claude-plugin/plugin.json`,
 * `hooks/hooks.json`); passed to Claude Code as `--plugin-dir`.
 * @remarks Resolved relative to this module, two levels below the package root both as
 * `src/providers/claude-code.ts` and as `dist/providers/claude-code.js`.
 * @public
 */
export const CLAUDE_PLUGIN_DIR: string = fileURLToPath(new URL('../../', import.meta.url)).replace(/[\\/]$/, '');

/**
 * Oldest Claude Code version the headless adapter is tested with (stream-json input and output,
 * `--plugin-dir`, hook lifecycle lines on stdout).
 * @public
 */
export const CLAUDE_CODE_MIN_VERSION = '2.1.0';

/**
 * Options of {@link createClaudeCodeProvider}.
 * @public
 */
export interface ClaudeCodeProviderOptions {
  /**
   * The `claude` executable: a name on `PATH` or an absolute path.
   * @defaultValue `'claude'`
   */
  command?: string;
  /**
   * Directory loaded with `--plugin-dir` (this package's hooks); `false` loads no plugin (then no
   * hooks reach the runner: no Stop decision and no permission relay).
   * @defaultValue {@link CLAUDE_PLUGIN_DIR}
   */
  pluginDir?: string | false;
  /**
   * Tools allowed without a permission prompt (`--allowedTools`). The default lets the agent answer
   * relay messages without asking; pass `[]` to ask for everything.
   * @defaultValue `['Bash(agent-relay-runner send:*)']`
   */
  allowedTools?: readonly string[];
  /**
   * Arguments appended to every launch, before the launch's own `extraArgs` (e.g. `['--model', 'sonnet']`).
   * @defaultValue `[]`
   */
  extraArgs?: readonly string[];
  /**
   * Variables set on top of the launch environment (e.g. `ANTHROPIC_BASE_URL`, `CLAUDE_CONFIG_DIR`).
   * @defaultValue `{}`
   */
  env?: Readonly<Record<string, string>>;
  /**
   * Oldest accepted `claude --version`; older is a `ProviderError` at start.
   * @defaultValue {@link CLAUDE_CODE_MIN_VERSION}
   */
  minVersion?: string;
  /**
   * How long `stop()` waits after closing stdin before it signals the process.
   * @defaultValue 3000
   */
  stopGraceMs?: number;
  /**
   * How long `stop()` waits after SIGTERM before SIGKILL.
   * @defaultValue 3000
   */
  killGraceMs?: number;
  /**
   * How long `checkVersion()` waits for `claude --version`.
   * @defaultValue 20000
   */
  versionTimeoutMs?: number;
  /**
   * Events kept while nobody subscribed yet; the first subscriber receives them.
   * @defaultValue 1000
   */
  bufferEvents?: number;
}

/** Headless: stdout is authoritative for turns; hooks only ask (Stop decision, permissions). */
const CAPABILITIES: ProviderCapabilities = Object.freeze({
  structuredInput: true,
  resume: true,
  interactive: false,
  hookDriven: false,
  midTurnMessages: 'queue',
});

const SUMMARY_CHARS = 200;

/** `a < b` for dotted numeric versions (pre-release suffixes ignored). */
function versionLess(a: string, b: string): boolean {
  const pa = a.split(/[.+-]/).slice(0, 3).map((n) => Number.parseInt(n, 10) || 0);
  const pb = b.split(/[.+-]/).slice(0, 3).map((n) => Number.parseInt(n, 10) || 0);
  for (let i = 0; i < 3; i++) {
    const x = pa[i] ?? 0;
    const y = pb[i] ?? 0;
    if (x !== y) return x < y;
  }
  return false;
}

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);

/**
 * A one-line summary of a tool call's input for the session mirror.
 * @internal
 */
export function summarizeClaudeToolInput(input: unknown): string {
  if (!isObj(input)) return '';
  const pick = input.command ?? input.file_path ?? input.path ?? input.url ?? input.pattern ?? input.description ?? input.prompt;
  const text = typeof pick === 'string' ? pick : JSON.stringify(input);
  return shorten(text.replace(/\s+/g, ' ').trim(), SUMMARY_CHARS);
}

/** Text of a tool result's content (string or text blocks). */
function resultText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) return content.map((b) => (isObj(b) && typeof b.text === 'string' ? b.text : '')).join('\n');
  return '';
}

/**
 * State that turns Claude Code's stream-json stdout into {@link ProviderEvent}s.
 * @remarks Exported for unit tests of the mapping; the session owns one per process.
 * @internal
 */
export class ClaudeStreamMapper {
  /** Session ids already announced (one `session` event each). */
  #announced = new Set<string>();
  /** Tool names by tool_use id, to name the result. */
  #tools = new Map<string, string>();
  #lastUsage: { used: number } | undefined;
  #turnOpen = false;
  /** Id of the open turn (the CLI has none): `turn.completed` names the turn that started. */
  #turnId: string | undefined;
  #turnSeq = 0;
  #interruptRequested = false;

  constructor(
    private readonly resumed: boolean,
    /** Delivery id of the turn a `system/init` line starts (the oldest written turn), if any. */
    private readonly nextWrittenTurn: () => string | undefined,
  ) {}

  /** The runner asked to interrupt the running turn: its `result` ends it as interrupted, quietly. */
  noteInterrupt(): void {
    if (this.#turnOpen) this.#interruptRequested = true;
  }

  /** Whether a turn started (init seen) and has not produced its `result` yet. */
  get turnOpen(): boolean {
    return this.#turnOpen;
  }

  /** Events for one parsed stdout object; unknown types and fields are ignored (tolerated). */
  map(raw: Json): ProviderEvent[] {
    const events: ProviderEvent[] = [];
    const sessionId = str(raw.session_id);
    const type = str(raw.type);
    const subtype = str(raw.subtype);
    if (sessionId && !this.#announced.has(sessionId)) {
      // The SessionStart hook line comes first (before any turn) and names its source.
      const hookSource = /^SessionStart:(startup|resume|clear|compact)$/.exec(str(raw.hook_name) ?? '')?.[1];
      const source = (hookSource ?? (this.resumed ? 'resume' : 'startup')) as 'startup' | 'resume' | 'clear' | 'compact';
      this.#announced.add(sessionId);
      events.push({ type: 'session', sessionId, source });
    }
    switch (type) {
      case 'system':
        if (subtype === 'init') {
          // One init per turn: the turn has taken the oldest written user message.
          this.#turnOpen = true;
          this.#turnId = `turn-${++this.#turnSeq}`;
          const deliveryId = this.nextWrittenTurn();
          events.push({ type: 'turn.started', turnId: this.#turnId, ...(deliveryId ? { deliveryId } : {}) });
        } else if (subtype === 'permission_denied') {
          const toolId = str(raw.tool_use_id);
          if (toolId) this.#tools.delete(toolId);
          events.push({ type: 'tool', name: str(raw.tool_name) ?? 'tool', summary: shorten(str(raw.message) ?? 'permission denied', SUMMARY_CHARS), status: 'failed' });
        }
        return events;
      case 'assistant': {
        const message = raw.message;
        if (!isObj(message)) return events;
        // Subagent traffic (parent_tool_use_id set) is the subagent's own, not the agent's reply.
        const nested = typeof raw.parent_tool_use_id === 'string';
        const usage = message.usage;
        if (isObj(usage) && !nested) {
          const used = num(usage.input_tokens) + num(usage.cache_creation_input_tokens) + num(usage.cache_read_input_tokens) + num(usage.output_tokens);
          if (used > 0) this.#lastUsage = { used };
        }
        for (const block of Array.isArray(message.content) ? message.content : []) {
          if (!isObj(block)) continue;
          if (block.type === 'thinking' && typeof block.thinking === 'string' && block.thinking.trim() !== '') {
            events.push({ type: 'reasoning', text: block.thinking });
          } else if (block.type === 'text' && typeof block.text === 'string' && !nested) {
            events.push({ type: 'assistant', text: block.text });
          } else if (block.type === 'tool_use') {
            const name = str(block.name) ?? 'tool';
            const id = str(block.id);
            if (id) this.#tools.set(id, name);
            events.push({ type: 'tool', name, summary: summarizeClaudeToolInput(block.input), status: 'started' });
          }
        }
        return events;
      }
      case 'user': {
        const message = raw.message;
        if (!isObj(message) || !Array.isArray(message.content)) return events;
        for (const block of message.content) {
          if (!isObj(block) || block.type !== 'tool_result') continue;
          const id = str(block.tool_use_id);
          if (!id || !this.#tools.has(id)) continue; // already reported (e.g. a denial)
          const name = this.#tools.get(id) ?? 'tool';
          this.#tools.delete(id);
          events.push({
            type: 'tool',
            name,
            summary: shorten(resultText(block.content).replace(/\s+/g, ' ').trim(), SUMMARY_CHARS),
            status: block.is_error === true ? 'failed' : 'completed',
          });
        }
        return events;
      }
      case 'result': {
        this.#turnOpen = false;
        const turnId = this.#turnId !== undefined ? { turnId: this.#turnId } : {};
        this.#turnId = undefined;
        this.#tools.clear();
        const failed = raw.is_error === true || (subtype !== undefined && subtype !== 'success');
        const interruptRequested = this.#interruptRequested;
        this.#interruptRequested = false;
        if (interruptRequested && (failed || raw.terminal_reason === 'interrupted' || raw.stop_reason === null)) {
          events.push({ type: 'turn.completed', ...turnId, interrupted: true });
        } else if (failed) {
          const reason = str(raw.result) ?? subtype ?? 'error';
          events.push({ type: 'warning', message: `Claude Code turn ended with an error (${subtype ?? 'unknown'}): ${shorten(reason)}` });
          events.push({ type: 'turn.completed', ...turnId, interrupted: true });
        } else {
          const finalText = str(raw.result);
          events.push({ type: 'turn.completed', ...turnId, ...(finalText !== undefined ? { finalText } : {}) });
        }
        const windowTokens = contextWindow(raw.modelUsage);
        if (this.#lastUsage) {
          events.push({ type: 'usage', usedTokens: this.#lastUsage.used, ...(windowTokens ? { windowTokens } : {}) });
        }
        return events;
      }
      default:
        return events;
    }
  }
}

/** The largest `contextWindow` among the models a result reports. */
function contextWindow(modelUsage: unknown): number | undefined {
  if (!isObj(modelUsage)) return undefined;
  let best = 0;
  for (const usage of Object.values(modelUsage)) if (isObj(usage)) best = Math.max(best, num(usage.contextWindow));
  return best > 0 ? best : undefined;
}

/**
 * Parse one stdout line of `claude -p --output-format stream-json`.
 * @returns the object, or `{ error }` with a one-line reason
 * @internal
 */
export function parseClaudeStreamLine(line: string): { value: Json } | { error: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    return { error: 'not JSON' };
  }
  if (!isObj(raw)) return { error: 'not a JSON object' };
  if (typeof raw.type !== 'string') return { error: 'no "type" field' };
  return { value: raw };
}

/**
 * The stream-json user message for a turn. The runner already put the sender header (who, message
 * id, how to reply) into the text; the structured sender rides along as metadata the CLI ignores.
 * @internal
 */
export function claudeUserMessage(turn: ProviderTurn): Json {
  return { type: 'user', message: { role: 'user', content: [{ type: 'text', text: turn.text }] }, parent_tool_use_id: null };
}

interface SessionSettings {
  stopGraceMs: number;
  killGraceMs: number;
  bufferEvents: number;
}

/** What Claude Code prints when `--resume` names a session it has no transcript for. */
const NO_CONVERSATION = /No conversation found with session ID/i;

function createClaudeSession(
  child: SpawnedProcess,
  deps: ProviderDeps,
  settings: SessionSettings,
  resumeSessionId: string | undefined,
  onUnresumable: (sessionId: string) => void,
): ProviderSession {
  const resumed = resumeSessionId !== undefined;
  const { logger } = deps;
  const pid = child.pid;
  const events = new EventFanout(logger, 'claude', pid, settings.bufferEvents);
  let exitRecord: ProcessExit | undefined;
  let stopping: Promise<ProcessExit> | undefined;
  /**
   * Turns handed to deliver() but not written yet. Claude Code merges user messages written while
   * a turn runs into one combined next turn; holding them here keeps one relay message = one turn,
   * so each `system/init` line consumes exactly the oldest written turn.
   */
  const held: ProviderTurn[] = [];
  /** Written turns awaiting their `system/init` line (FIFO; the CLI does not echo our ids). */
  const written: string[] = [];
  let interruptSeq = 0;
  const mapper = new ClaudeStreamMapper(resumed, () => written.shift());

  const dispatch = (event: ProviderEvent): void => events.dispatch(event);

  const writeLine = async (message: Json, what: string): Promise<void> => {
    if (exitRecord || stopping) {
      throw new ProviderError(`cannot ${what}: claude is ${stopping ? 'stopping' : 'not running'}`, { data: { pid } });
    }
    try {
      await child.write(`${JSON.stringify(message)}\n`);
    } catch (error) {
      throw new ProviderError(`cannot ${what}: ${describeError(error)}`, { data: { pid }, cause: error });
    }
  };

  /** Write the next held turn when no turn is running or waiting to start. */
  const flush = async (): Promise<void> => {
    if (mapper.turnOpen || written.length > 0) return;
    const next = held.shift();
    if (!next) return;
    written.push(next.deliveryId);
    try {
      await writeLine(claudeUserMessage(next), `deliver ${next.deliveryId}`);
      logger.debug(COMPONENT, `claude (pid ${pid}): wrote turn ${next.deliveryId}`);
    } catch (error) {
      // The process is gone: the runner requeues injected turns when it sees the exit.
      const at = written.indexOf(next.deliveryId);
      if (at >= 0) written.splice(at, 1);
      logger.warn(COMPONENT, describeError(error));
    }
  };

  child.stdout.onLine((line) => {
    if (line.trim() === '') return;
    const parsed = parseClaudeStreamLine(line);
    if ('error' in parsed) {
      // Never drop output silently: the text goes to the log and to the runner as a warning.
      const message = `claude (pid ${pid}) wrote an unparseable stdout line (${parsed.error}): ${shorten(line)}`;
      logger.warn(COMPONENT, message);
      dispatch({ type: 'warning', message });
      return;
    }
    const events = mapper.map(parsed.value);
    for (const event of events) {
      if (event.type === 'warning') logger.warn(COMPONENT, `claude (pid ${pid}): ${event.message}`);
      else if (event.type === 'session') logger.info(COMPONENT, `claude (pid ${pid}) session ${event.sessionId} (${event.source})`);
      else logger.debug(COMPONENT, `claude (pid ${pid}) event ${event.type}`);
      dispatch(event);
    }
    if (parsed.value.type === 'result') void flush();
  });
  child.stderr.onLine((line) => {
    if (line.trim() === '') return;
    if (resumeSessionId !== undefined && NO_CONVERSATION.test(line)) {
      // A process killed before its transcript reached disk leaves a session that cannot be
      // resumed; the next start begins a fresh session instead of failing the same way forever.
      onUnresumable(resumeSessionId);
      const message = `claude cannot resume session ${resumeSessionId} (no transcript); the next start begins a new session`;
      logger.warn(COMPONENT, message);
      dispatch({ type: 'warning', message });
      return;
    }
    logger.info(COMPONENT, `claude (pid ${pid}) stderr: ${shorten(line)}`);
  });

  const exited = child.exited.then((exit) => {
    exitRecord = exit;
    held.length = 0;
    written.length = 0;
    const how = exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`;
    logger.info(COMPONENT, `claude (pid ${pid}) exited with ${how}`);
    return exit;
  });

  return {
    pid,
    exited,
    async deliver(turn: ProviderTurn): Promise<void> {
      if (exitRecord || stopping) {
        throw new ProviderError(`cannot deliver ${turn.deliveryId}: claude is ${stopping ? 'stopping' : 'not running'}`, { data: { pid } });
      }
      held.push(turn);
      await flush();
    },
    async interrupt(): Promise<void> {
      if (exitRecord || stopping || !mapper.turnOpen) return;
      // The stream-json control protocol's interrupt; the turn then ends with a `result` line.
      mapper.noteInterrupt();
      const request = { type: 'control_request', request_id: `arr-interrupt-${++interruptSeq}`, request: { subtype: 'interrupt' } };
      try {
        await child.write(`${JSON.stringify(request)}\n`);
      } catch (error) {
        logger.warn(COMPONENT, `claude (pid ${pid}): interrupt not written: ${describeError(error)}`);
      }
    },
    decidePermission(requestId: string): void {
      // Headless permission requests arrive through the PermissionRequest hook (answered over the
      // control port), never as provider events, so there is nothing to answer here.
      logger.debug(COMPONENT, `claude (pid ${pid}): ignored decision for permission request ${requestId} (hooks answer those)`);
    },
    onEvent(listener: (event: ProviderEvent) => void): () => void {
      return events.subscribe(listener);
    },
    attachSpec(): TerminalAttachSpec {
      return { kind: 'none' };
    },
    stop(): Promise<ProcessExit> {
      stopping ??= (async () => {
        if (exitRecord) return exitRecord;
        // Claude Code finishes (SessionEnd hook) and exits 0 when stdin closes between turns.
        return stopChild(child, exited, settings, deps, 'claude');
      })();
      return stopping;
    },
  };
}

/**
 * Claude Code, headless: `claude -p --input-format stream-json --output-format stream-json --verbose --plugin-dir PACKAGE_ROOT`
 * (SPEC §9; `PACKAGE_ROOT` is this package, which ships the hooks plugin).
 *
 * @remarks
 * Each relay turn is one stream-json user message on stdin, written one at a time (a turn that
 * arrives while another runs is held until the `result` line; Claude Code would otherwise merge it
 * into the next turn). Stdout is authoritative (`hookDriven: false`): the first line carrying a
 * session id gives `session` (source from the SessionStart hook line, else `resume` when launched
 * with `--resume`); each `system/init` line is `turn.started` for the oldest written turn;
 * thinking blocks are `reasoning`, text blocks `assistant`, tool calls and their results `tool`
 * steps; `result` is `turn.completed` with `finalText` (an error result ends the turn as
 * interrupted, with a `warning`) followed by `usage`. The hooks still run: the runner answers the
 * Stop decision and the PermissionRequest hook (denied with a reason when the relay does not decide
 * in time). Unparseable stdout lines are logged and surfaced as `warning` events; unknown line types
 * and fields are ignored.
 * @public
 */
export function createClaudeCodeProvider(options: ClaudeCodeProviderOptions = {}): ProviderAdapter {
  const command = options.command ?? 'claude';
  const pluginDir = options.pluginDir === undefined ? CLAUDE_PLUGIN_DIR : options.pluginDir;
  const allowedTools = [...(options.allowedTools ?? ['Bash(agent-relay-runner send:*)'])];
  const extraArgs = [...(options.extraArgs ?? [])];
  const extraEnv = { ...(options.env ?? {}) };
  const minVersion = options.minVersion ?? CLAUDE_CODE_MIN_VERSION;
  const settings: SessionSettings = {
    stopGraceMs: options.stopGraceMs ?? 3_000,
    killGraceMs: options.killGraceMs ?? 3_000,
    bufferEvents: options.bufferEvents ?? 1_000,
  };
  const versionTimeoutMs = options.versionTimeoutMs ?? 20_000;
  /** Session ids Claude Code said it cannot resume; later starts don't ask again. */
  const unresumable = new Set<string>();

  return {
    name: 'claude',
    capabilities: CAPABILITIES,

    async checkVersion(deps: ProviderDeps): Promise<string> {
      let child: SpawnedProcess;
      try {
        child = await deps.spawner.spawn({ command, args: ['--version'] });
      } catch (error) {
        throw new ProviderError(`Claude Code not found: cannot run "${command} --version" (${describeError(error)})`, {
          data: { command },
          cause: error,
        });
      }
      const probe = await probeVersion(child, versionTimeoutMs, deps.clock);
      if (probe.kind === 'timeout') {
        throw new ProviderError(`"${command} --version" did not answer within ${versionTimeoutMs} ms`, { data: { command } });
      }
      if (probe.kind === 'failed') {
        const { exit, detail } = probe;
        throw new ProviderError(`"${command} --version" failed (${exit.code ?? exit.signal}): ${detail}`, {
          data: { command, code: exit.code, signal: exit.signal },
        });
      }
      const { version } = probe;
      if (versionLess(version, minVersion)) {
        throw new ProviderError(`Claude Code ${version} is too old: agent-relay-runner needs ${minVersion} or newer`, {
          data: { command, version, minVersion },
        });
      }
      deps.logger.info(COMPONENT, `Claude Code version ${version} (${command})`);
      return version;
    },

    async start(launch: ProviderLaunch, deps: ProviderDeps): Promise<ProviderSession> {
      let resumeSessionId = launch.resumeSessionId;
      if (resumeSessionId !== undefined && unresumable.has(resumeSessionId)) {
        deps.logger.warn(COMPONENT, `not resuming Claude Code session ${resumeSessionId} (it could not be resumed before); starting a new session`);
        resumeSessionId = undefined;
      }
      const args = ['-p', '--input-format', 'stream-json', '--output-format', 'stream-json', '--verbose'];
      if (pluginDir !== false) args.push('--plugin-dir', pluginDir);
      if (allowedTools.length > 0) args.push('--allowedTools', allowedTools.join(','));
      args.push(...extraArgs, ...(launch.extraArgs ?? []));
      if (resumeSessionId !== undefined) args.push('--resume', resumeSessionId);
      let child: SpawnedProcess;
      try {
        child = await deps.spawner.spawn({ command, args, cwd: launch.cwd, env: { ...launch.env, ...extraEnv } });
      } catch (error) {
        throw new ProviderError(`cannot start Claude Code (${command}): ${describeError(error)}`, {
          data: { command, cwd: launch.cwd, ...(isRunnerError(error) ? { causeCode: error.code } : {}) },
          cause: error,
        });
      }
      const resumeNote = resumeSessionId === undefined ? '' : ` resuming ${resumeSessionId}`;
      deps.logger.info(COMPONENT, `claude started headless (pid ${child.pid})${resumeNote}`);
      return withClaudeHooks(createClaudeSession(child, deps, settings, resumeSessionId, (id) => unresumable.add(id)), deps, CAPABILITIES);
    },
  };
}
