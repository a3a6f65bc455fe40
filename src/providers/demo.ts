import { access } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { ProcessExit, SpawnedProcess } from '../ports/process-spawner.js';
import type {
  PermissionDecision,
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

/**
 * Absolute path of the demo agent script shipped with the package (`provider-scripts/demo-agent.mjs`).
 * @remarks Resolved relative to this module, which sits two levels below the package root both as
 * `src/providers/demo.ts` (tests) and as `dist/providers/demo.js` (the build).
 * @public
 */
export const DEMO_AGENT_SCRIPT_PATH: string = fileURLToPath(new URL('../../provider-scripts/demo-agent.mjs', import.meta.url));

/**
 * Options of {@link createDemoProvider}.
 * @public
 */
export interface DemoProviderOptions {
  /**
   * The Node.js executable that runs the script.
   * @defaultValue `process.execPath` (the Node running the runner)
   */
  nodePath?: string;
  /**
   * The demo agent script; change it only to test a modified copy.
   * @defaultValue {@link DEMO_AGENT_SCRIPT_PATH}
   */
  scriptPath?: string;
  /**
   * Arguments appended to every launch, before the launch's own `extraArgs`
   * (e.g. `['--reply-prefix', 'Bot:']`).
   * @defaultValue `[]`
   */
  extraArgs?: readonly string[];
  /**
   * How long `stop()` waits after closing stdin before it signals the process.
   * @defaultValue 2000
   */
  stopGraceMs?: number;
  /**
   * How long `stop()` waits after SIGTERM before SIGKILL.
   * @defaultValue 3000
   */
  killGraceMs?: number;
  /**
   * How long `checkVersion()` waits for `--version` before it gives up.
   * @defaultValue 10000
   */
  versionTimeoutMs?: number;
  /**
   * Events kept while nobody subscribed yet; the first subscriber receives them (so the startup
   * `session` event is never missed).
   * @defaultValue 1000
   */
  bufferEvents?: number;
}

/** Capabilities of the demo provider. */
const CAPABILITIES: ProviderCapabilities = Object.freeze({
  structuredInput: true,
  resume: true,
  interactive: false,
  hookDriven: false,
  midTurnMessages: 'queue',
});

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/**
 * Turn one parsed stdout object into a {@link ProviderEvent}, keeping only the known fields.
 * @returns the event, or a reason why the object is not a valid event
 */
function toProviderEvent(raw: Record<string, unknown>): ProviderEvent | string {
  const type = raw.type;
  const optional = <K extends string>(key: K, value: string | undefined): Partial<Record<K, string>> =>
    value === undefined ? {} : ({ [key]: value } as Record<K, string>);
  switch (type) {
    case 'session': {
      const sessionId = str(raw.sessionId);
      const source = raw.source;
      if (!sessionId) return 'session event without a sessionId';
      if (source !== 'startup' && source !== 'resume' && source !== 'clear' && source !== 'compact') {
        return 'session event with an unknown source';
      }
      return { type, sessionId, source };
    }
    case 'turn.started':
      return {
        type,
        ...optional('deliveryId', str(raw.deliveryId)),
        ...optional('turnId', str(raw.turnId)),
        ...optional('prompt', str(raw.prompt)),
      };
    case 'reasoning':
    case 'assistant': {
      const text = str(raw.text);
      if (text === undefined) return `${type} event without text`;
      return { type, text };
    }
    case 'tool': {
      const name = str(raw.name);
      const status = raw.status;
      if (name === undefined) return 'tool event without a name';
      if (status !== 'started' && status !== 'completed' && status !== 'failed') return 'tool event with an unknown status';
      return { type, name, summary: str(raw.summary) ?? '', status };
    }
    case 'turn.completed':
      return {
        type,
        ...optional('turnId', str(raw.turnId)),
        ...optional('finalText', str(raw.finalText)),
        ...(raw.interrupted === true ? { interrupted: true } : {}),
      };
    case 'usage': {
      const used = raw.usedTokens;
      if (typeof used !== 'number' || !Number.isFinite(used) || used < 0) return 'usage event without usedTokens';
      const window = raw.windowTokens;
      return { type, usedTokens: used, ...(typeof window === 'number' && Number.isFinite(window) ? { windowTokens: window } : {}) };
    }
    case 'subagent': {
      const phase = raw.phase;
      if (phase !== 'start' && phase !== 'stop') return 'subagent event with an unknown phase';
      return { type, phase, ...optional('id', str(raw.id)) };
    }
    case 'permission': {
      const requestId = str(raw.requestId);
      const tool = str(raw.tool);
      if (!requestId || tool === undefined) return 'permission event without requestId or tool';
      return { type, requestId, tool, summary: str(raw.summary) ?? '' };
    }
    case 'version': {
      const version = str(raw.version);
      if (version === undefined) return 'version event without a version';
      return { type, version };
    }
    case 'warning': {
      const message = str(raw.message);
      if (message === undefined) return 'warning event without a message';
      return { type, message };
    }
    default:
      return `unknown event type ${JSON.stringify(type)}`;
  }
}

/**
 * Parse one stdout line of the demo agent.
 * @returns the event, or `{ error }` with a one-line reason when the line is not a valid event
 * @internal
 */
export function parseDemoAgentLine(line: string): { event: ProviderEvent } | { error: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    return { error: 'not JSON' };
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return { error: 'not a JSON object' };
  const result = toProviderEvent(raw as Record<string, unknown>);
  return typeof result === 'string' ? { error: result } : { event: result };
}

interface SessionSettings {
  stopGraceMs: number;
  killGraceMs: number;
  bufferEvents: number;
}

function createDemoSession(child: SpawnedProcess, deps: ProviderDeps, settings: SessionSettings): ProviderSession {
  const { logger } = deps;
  const pid = child.pid;
  const events = new EventFanout(logger, 'demo provider', pid, settings.bufferEvents);
  // Permission requests the agent is waiting on; decisions for anything else are ignored.
  const openPermissions = new Set<string>();
  let exitRecord: ProcessExit | undefined;
  let stopping: Promise<ProcessExit> | undefined;

  const dispatch = (event: ProviderEvent): void => events.dispatch(event);

  child.stdout.onLine((line) => {
    if (line.trim() === '') return;
    const parsed = parseDemoAgentLine(line);
    if ('error' in parsed) {
      // Never drop output silently: the text goes to the log and to the runner as a warning.
      const message = `demo provider (pid ${pid}) wrote an unparseable stdout line (${parsed.error}): ${shorten(line)}`;
      logger.warn(COMPONENT, message);
      dispatch({ type: 'warning', message });
      return;
    }
    const { event } = parsed;
    if (event.type === 'permission') openPermissions.add(event.requestId);
    // A settled turn takes its permission requests with it, so a late decision is never applied.
    if (event.type === 'turn.completed') openPermissions.clear();
    if (event.type === 'warning') logger.warn(COMPONENT, `demo provider (pid ${pid}) warning: ${event.message}`);
    else if (event.type === 'version') logger.info(COMPONENT, `demo provider (pid ${pid}) version ${event.version}`);
    else logger.debug(COMPONENT, `demo provider (pid ${pid}) event ${event.type}`);
    dispatch(event);
  });
  child.stderr.onLine((line) => {
    if (line.trim() !== '') logger.info(COMPONENT, `demo provider (pid ${pid}) stderr: ${shorten(line)}`);
  });

  const exited = child.exited.then((exit) => {
    exitRecord = exit;
    openPermissions.clear();
    const how = exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`;
    logger.info(COMPONENT, `demo provider (pid ${pid}) exited with ${how}`);
    return exit;
  });

  const writeLine = async (message: Record<string, unknown>, what: string): Promise<void> => {
    if (exitRecord || stopping) {
      throw new ProviderError(`cannot ${what}: the demo provider is ${stopping ? 'stopping' : 'not running'}`, { data: { pid } });
    }
    try {
      await child.write(`${JSON.stringify(message)}\n`);
    } catch (error) {
      throw new ProviderError(`cannot ${what}: ${describeError(error)}`, { data: { pid }, cause: error });
    }
  };

  return {
    pid,
    exited,
    async deliver(turn: ProviderTurn): Promise<void> {
      const message: Record<string, unknown> = { type: 'user', deliveryId: turn.deliveryId, text: turn.text };
      if (turn.sender) message.sender = turn.sender;
      await writeLine(message, `deliver ${turn.deliveryId}`);
      logger.debug(COMPONENT, `demo provider (pid ${pid}): delivered ${turn.deliveryId}`);
    },
    async interrupt(): Promise<void> {
      // Nothing runs in a process that is gone or going; that is not an error.
      if (exitRecord || stopping) return;
      try {
        await child.write(`${JSON.stringify({ type: 'interrupt' })}\n`);
      } catch (error) {
        logger.warn(COMPONENT, `demo provider (pid ${pid}): interrupt not written: ${describeError(error)}`);
      }
    },
    decidePermission(requestId: string, decision: PermissionDecision): void {
      if (!openPermissions.delete(requestId)) {
        logger.debug(COMPONENT, `demo provider (pid ${pid}): ignored decision for unknown permission request ${requestId}`);
        return;
      }
      const message: Record<string, unknown> = { type: 'permission_decision', requestId, behavior: decision.behavior };
      if (decision.message !== undefined) message.message = decision.message;
      writeLine(message, `answer permission request ${requestId}`).catch((error: unknown) => {
        logger.warn(COMPONENT, describeError(error));
      });
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
        // The agent exits 0 as soon as its stdin closes; signals are only the fallback.
        return stopChild(child, exited, settings, deps, 'demo provider');
      })();
      return stopping;
    },
  };
}

async function requireScript(scriptPath: string): Promise<void> {
  try {
    await access(scriptPath);
  } catch (error) {
    throw new ProviderError(`demo agent script not found at ${scriptPath}`, { data: { scriptPath }, cause: error });
  }
}

/**
 * The scripted demo provider: `node provider-scripts/demo-agent.mjs`, a real child process that
 * answers turns deterministically over JSON lines. The `demo` command and integration tests use it.
 *
 * @remarks
 * Answers are scripted by the turn text (directives may appear anywhere in it):
 * - default: `Echo: <last non-empty line>` (directives removed from that line);
 * - `[slow:<ms>]` the turn takes that long (reasoning is emitted first), so it can be interrupted
 *   or receive messages mid-turn;
 * - `[tool:<name>]` / `[tool-fail:<name>]` a tool step (started, then completed / failed);
 * - `[permission:<tool>]` a `permission` event; the turn waits for {@link ProviderSession.decidePermission}
 *   and answers `permission allowed` or `permission denied: <message>`;
 * - `[subagent]` a subagent start … stop around the turn;
 * - `[env:<NAME>]` answers `env NAME=<value>`; `[env]` its whole environment; `[cwd]` answers `cwd <dir>`;
 * - `[garbage]` one unparseable stdout line (surfaced as a `warning` event and logged);
 * - `[crash]` exits with code 1 mid-turn; `[exit]` completes the turn, then exits 0.
 *
 * Every session starts with a `version` and a `session` event (a random id, or the resumed id with
 * source `resume`). Each turn: `turn.started` (echoing the delivery id), `reasoning`, tool steps,
 * `assistant`, `turn.completed` with `finalText`, `usage`. Turns delivered mid-turn are queued and
 * answered in order (`midTurnMessages: 'queue'`); `interrupt()` ends the running turn with
 * `turn.completed { interrupted: true }`. Unparseable or unknown stdout lines are logged with
 * `logger.warn` and surfaced as `warning` events; unknown fields are ignored. `stop()` closes stdin
 * (the agent exits 0), then escalates to SIGTERM and SIGKILL.
 * @public
 */
export function createDemoProvider(options: DemoProviderOptions = {}): ProviderAdapter {
  const nodePath = options.nodePath ?? process.execPath;
  const scriptPath = options.scriptPath ?? DEMO_AGENT_SCRIPT_PATH;
  const extraArgs = [...(options.extraArgs ?? [])];
  const settings: SessionSettings = {
    stopGraceMs: options.stopGraceMs ?? 2_000,
    killGraceMs: options.killGraceMs ?? 3_000,
    bufferEvents: options.bufferEvents ?? 1_000,
  };
  const versionTimeoutMs = options.versionTimeoutMs ?? 10_000;

  return {
    name: 'demo',
    capabilities: CAPABILITIES,

    async checkVersion(deps: ProviderDeps): Promise<string> {
      await requireScript(scriptPath);
      let child: SpawnedProcess;
      try {
        child = await deps.spawner.spawn({ command: nodePath, args: [scriptPath, '--version'] });
      } catch (error) {
        throw new ProviderError(`cannot run the demo agent with ${nodePath}: ${describeError(error)}`, {
          data: { nodePath, scriptPath },
          cause: error,
        });
      }
      const probe = await probeVersion(child, versionTimeoutMs, deps.clock);
      if (probe.kind === 'timeout') {
        throw new ProviderError(`demo agent --version did not answer within ${versionTimeoutMs} ms`, { data: { nodePath, scriptPath } });
      }
      if (probe.kind === 'failed') {
        const { exit, detail } = probe;
        throw new ProviderError(`demo agent --version failed (code ${exit.code ?? exit.signal}): ${detail}`, {
          data: { nodePath, scriptPath, code: exit.code, signal: exit.signal },
        });
      }
      deps.logger.info(COMPONENT, `demo agent version ${probe.version} (${scriptPath})`);
      return probe.version;
    },

    async start(launch: ProviderLaunch, deps: ProviderDeps): Promise<ProviderSession> {
      await requireScript(scriptPath);
      const args = [scriptPath, ...extraArgs, ...(launch.extraArgs ?? [])];
      if (launch.resumeSessionId !== undefined) args.push('--resume', launch.resumeSessionId);
      let child: SpawnedProcess;
      try {
        child = await deps.spawner.spawn({ command: nodePath, args, cwd: launch.cwd, env: launch.env });
      } catch (error) {
        throw new ProviderError(`cannot start the demo provider: ${describeError(error)}`, {
          data: { nodePath, scriptPath, cwd: launch.cwd, ...(isRunnerError(error) ? { causeCode: error.code } : {}) },
          cause: error,
        });
      }
      const resumeNote = launch.resumeSessionId === undefined ? '' : ` resuming ${launch.resumeSessionId}`;
      deps.logger.info(COMPONENT, `demo provider started (pid ${child.pid})${resumeNote}`);
      return createDemoSession(child, deps, settings);
    },
  };
}
