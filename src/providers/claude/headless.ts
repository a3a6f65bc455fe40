import type { ProcessExit } from '../../ports/process-spawner.js';
import type {
  ProviderAdapter,
  ProviderDeps,
  ProviderEvent,
  ProviderLaunch,
  ProviderSession,
  ProviderTurn,
  TerminalAttachSpec,
} from '../../ports/provider.js';
import { ProviderError } from '../../errors/index.js';
import { describeError } from '../../shared/describe-error.js';
import { resolveProcessOptions, type ProcessProviderOptions, STRUCTURED_PROVIDER_CAPABILITIES } from '../kit/options.js';
import { JsonLinesProcess, spawnProviderProcess } from '../kit/process-session.js';
import { COMPONENT, shorten } from '../kit/text.js';
import { CLAUDE_PLUGIN_DIR, claudeLaunchArgs, claudeVersionCheck, DEFAULT_ALLOWED_TOOLS, requirePluginDir, type ClaudeRelayToolsOptions } from './common.js';
import type { Json } from '../kit/json.js';
import { ClaudeStreamMapper, claudeUserMessage } from './stream.js';
import { withClaudeHooks } from './hook-routes.js';
import { CLAUDE_PROFILE_FIELDS, withClaudeProfile } from './profile.js';

export { CLAUDE_CODE_MIN_VERSION, CLAUDE_CODE_TESTED_VERSION, CLAUDE_PLUGIN_DIR } from './common.js';

/**
 * Options of {@link createClaudeCodeProvider}. Defaults of the shared options: `stopGraceMs` 3000,
 * `killGraceMs` 3000, `versionTimeoutMs` 20000, `bufferEvents` 1000, `minVersion`
 * {@link CLAUDE_CODE_MIN_VERSION}, `testedVersion` {@link CLAUDE_CODE_TESTED_VERSION}; `env` is
 * where `ANTHROPIC_BASE_URL` or `CLAUDE_CONFIG_DIR` go, `extraArgs` e.g. `['--model', 'sonnet']`.
 * @public
 */
export interface ClaudeCodeProviderOptions extends ProcessProviderOptions, ClaudeRelayToolsOptions {
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
   * relay messages without asking (the relay tools, and `send` by name or by the runner's PATH-free
   * script); pass `[]` to ask for everything.
   * @defaultValue `['mcp__relay', 'Bash(agent-relay-runner send:*)']`
   */
  allowedTools?: readonly string[];
}

/** Headless: stdout is authoritative for turns; hooks only ask (Stop decision, permissions). */
const CAPABILITIES = STRUCTURED_PROVIDER_CAPABILITIES;

/** What Claude Code prints when `--resume` names a session it has no transcript for. */
const NO_CONVERSATION = /No conversation found with session ID/i;

/**
 * A headless Claude session. `dispatch` feeds its listeners from outside the stdout reader (the
 * provider's hook routes).
 * @internal
 */
export interface ClaudeHeadlessSession extends ProviderSession {
  /** Deliver an event to this session's listeners. */
  dispatch(event: ProviderEvent): void;
}

function createClaudeSession(
  proc: JsonLinesProcess,
  resumeSessionId: string | undefined,
  onUnresumable: (sessionId: string) => void,
): ClaudeHeadlessSession {
  const { logger } = proc.deps;
  const pid = proc.pid;
  /**
   * Turns handed to deliver() but not written yet. Claude Code merges user messages written while
   * a turn runs into one combined next turn; holding them here keeps one relay message = one turn,
   * so each `system/init` line consumes exactly the oldest written turn.
   */
  const held: ProviderTurn[] = [];
  /** Written turns awaiting their `system/init` line (FIFO; the CLI does not echo our ids). */
  const written: string[] = [];
  let interruptSeq = 0;
  const mapper = new ClaudeStreamMapper(resumeSessionId !== undefined, () => written.shift());

  /** Write the next held turn when no turn is running or waiting to start. */
  const flush = async (): Promise<void> => {
    if (mapper.turnOpen || written.length > 0) return;
    const next = held.shift();
    if (!next) return;
    written.push(next.deliveryId);
    try {
      await proc.writeLine(claudeUserMessage(next), `deliver ${next.deliveryId}`);
      logger.debug(COMPONENT, `claude (pid ${pid}): wrote turn ${next.deliveryId}`);
    } catch (error) {
      // The process is gone: the runner requeues injected turns when it sees the exit.
      const at = written.indexOf(next.deliveryId);
      if (at >= 0) written.splice(at, 1);
      logger.warn(COMPONENT, describeError(error));
    }
  };

  proc.listen({
    onMessage(raw: Json) {
      if (typeof raw.type !== 'string') return 'no "type" field';
      for (const event of mapper.map(raw)) {
        if (event.type === 'warning') logger.warn(COMPONENT, `claude (pid ${pid}): ${event.message}`);
        else if (event.type === 'session') logger.info(COMPONENT, `claude (pid ${pid}) session ${event.sessionId} (${event.source})`);
        else logger.debug(COMPONENT, `claude (pid ${pid}) event ${event.type}`);
        proc.dispatch(event);
      }
      if (raw.type === 'result') void flush();
    },
    onStderr(line) {
      if (resumeSessionId !== undefined && NO_CONVERSATION.test(line)) {
        // A process killed before its transcript reached disk leaves a session that cannot be
        // resumed; the next start begins a fresh session instead of failing the same way forever.
        onUnresumable(resumeSessionId);
        proc.warn(`claude cannot resume session ${resumeSessionId} (no transcript); the next start begins a new session`);
        return;
      }
      logger.info(COMPONENT, `claude (pid ${pid}) stderr: ${shorten(line)}`);
    },
    onExit() {
      held.length = 0;
      written.length = 0;
    },
  });

  return {
    pid,
    exited: proc.exited,
    dispatch: (event) => proc.dispatch(event),
    async deliver(turn: ProviderTurn): Promise<void> {
      if (!proc.running) {
        throw new ProviderError(`cannot deliver ${turn.deliveryId}: claude is ${proc.stopping ? 'stopping' : 'not running'}`, { data: { pid } });
      }
      held.push(turn);
      await flush();
    },
    async interrupt(): Promise<void> {
      if (!proc.running || !mapper.turnOpen) return;
      // The stream-json control protocol's interrupt; the turn then ends with a `result` line.
      mapper.noteInterrupt();
      const request = { type: 'control_request', request_id: `arr-interrupt-${++interruptSeq}`, request: { subtype: 'interrupt' } };
      await proc.writeLine(request, 'interrupt').catch((error: unknown) => {
        logger.warn(COMPONENT, `claude (pid ${pid}): interrupt not written: ${describeError(error)}`);
      });
    },
    decidePermission(requestId: string): void {
      // Headless permission requests arrive through the PermissionRequest hook (answered over the
      // control port), never as provider events, so there is nothing to answer here.
      logger.debug(COMPONENT, `claude (pid ${pid}): ignored decision for permission request ${requestId} (hooks answer those)`);
    },
    onEvent(listener: (event: ProviderEvent) => void): () => void {
      return proc.events.subscribe(listener);
    },
    attachSpec(): TerminalAttachSpec {
      return { kind: 'none' };
    },
    // Claude Code finishes (SessionEnd hook) and exits 0 when stdin closes between turns.
    stop: (): Promise<ProcessExit> => proc.stop(),
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
  const allowedTools = [...(options.allowedTools ?? DEFAULT_ALLOWED_TOOLS)];
  const relayTools = { relayTools: options.relayTools ?? true, strictMcpConfig: options.strictMcpConfig ?? false };
  const settings = resolveProcessOptions(options, { stopGraceMs: 3_000, killGraceMs: 3_000, versionTimeoutMs: 20_000 });
  const version = claudeVersionCheck(command, settings.minVersion, settings.testedVersion, settings.versionTimeoutMs);
  /** Session ids Claude Code said it cannot resume; later starts don't ask again. */
  const unresumable = new Set<string>();

  return {
    name: 'claude',
    capabilities: CAPABILITIES,
    profileFields: CLAUDE_PROFILE_FIELDS,

    checkVersion: (deps: ProviderDeps): Promise<string> => version.run(deps),

    async start(launch: ProviderLaunch, deps: ProviderDeps): Promise<ProviderSession> {
      // The relay profile's flags join the launch's extra args (docs/providers.md, "Profile projection").
      launch = withClaudeProfile(launch, settings.extraArgs, deps.logger, 'claude');
      await requirePluginDir(pluginDir, 'createClaudeCodeProvider');
      let resumeSessionId = launch.resumeSessionId;
      if (resumeSessionId !== undefined && unresumable.has(resumeSessionId)) {
        deps.logger.warn(COMPONENT, `not resuming Claude Code session ${resumeSessionId} (it could not be resumed before); starting a new session`);
        resumeSessionId = undefined;
      }
      const args = [
        '-p', '--input-format', 'stream-json', '--output-format', 'stream-json', '--verbose',
        ...claudeLaunchArgs(pluginDir, allowedTools, [...settings.extraArgs, ...(launch.extraArgs ?? [])], resumeSessionId, { ...relayTools, env: launch.env }),
      ];
      const env = { ...launch.env, ...settings.env };
      const child = await spawnProviderProcess(deps, { command, args, cwd: launch.cwd, env }, `Claude Code (${command})`);
      const resumeNote = resumeSessionId === undefined ? '' : ` resuming ${resumeSessionId}`;
      deps.logger.info(COMPONENT, `claude started headless (pid ${child.pid})${resumeNote}`);
      const proc = new JsonLinesProcess(child, deps, { ...settings, who: 'claude', ...(version.warning ? { startupWarning: version.warning } : {}) });
      return withClaudeHooks(createClaudeSession(proc, resumeSessionId, (id) => unresumable.add(id)), deps, CAPABILITIES);
    },
  };
}
