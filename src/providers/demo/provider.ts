import { access } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { ProcessExit } from '../../ports/process-spawner.js';
import type {
  PermissionDecision,
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
import { resolveProcessOptions, type ProcessProviderOptions, type ProcessSettings, STRUCTURED_PROVIDER_CAPABILITIES } from '../kit/options.js';
import { JsonLinesProcess, spawnProviderProcess } from '../kit/process-session.js';
import { COMPONENT } from '../kit/text.js';
import { VersionCheck } from '../kit/version.js';
import { toProviderEvent } from './events.js';

export { parseDemoAgentLine } from './events.js';

/**
 * Absolute path of the demo agent script shipped with the package (`provider-scripts/demo-agent.mjs`).
 * @remarks Resolved relative to this module, which sits three levels below the package root both as
 * `src/providers/demo/provider.ts` (tests) and as `dist/providers/demo/provider.js` (the build).
 * Inside a bundle this module's URL is the bundle's, so the default points at the wrong place (or is
 * `''` when the bundle has no `import.meta.url`): a bundled host ships the script and passes
 * `scriptPath` (see docs/embedding.md).
 * @public
 */
export const DEMO_AGENT_SCRIPT_PATH: string = resolveScriptPath();

/** The shipped script's path from this module's URL; `''` when there is no usable URL (a CommonJS bundle). */
function resolveScriptPath(): string {
  try {
    return fileURLToPath(new URL('../../../provider-scripts/demo-agent.mjs', import.meta.url));
  } catch {
    return '';
  }
}

/**
 * Options of {@link createDemoProvider}. Defaults of the shared options: `stopGraceMs` 2000,
 * `killGraceMs` 3000, `versionTimeoutMs` 10000, `bufferEvents` 1000, no version range.
 * @public
 */
export interface DemoProviderOptions extends ProcessProviderOptions {
  /**
   * The Node.js executable that runs the script.
   * @defaultValue `process.execPath` (the Node running the runner). Inside Electron that is the
   * app itself, so the script is then run with `ELECTRON_RUN_AS_NODE=1` (Electron acting as plain
   * Node) instead of relaunching the app.
   */
  nodePath?: string;
  /**
   * The demo agent script; change it only to test a modified copy.
   * @defaultValue {@link DEMO_AGENT_SCRIPT_PATH}
   */
  scriptPath?: string;
}

/** Capabilities of the demo provider. */
const CAPABILITIES = STRUCTURED_PROVIDER_CAPABILITIES;

function createDemoSession(proc: JsonLinesProcess): ProviderSession {
  const { logger } = proc.deps;
  const pid = proc.pid;
  // Permission requests the agent is waiting on; decisions for anything else are ignored.
  const openPermissions = new Set<string>();

  proc.listen({
    onMessage(raw) {
      const event = toProviderEvent(raw);
      if (typeof event === 'string') return event;
      if (event.type === 'permission') openPermissions.add(event.requestId);
      // A settled turn takes its permission requests with it, so a late decision is never applied.
      if (event.type === 'turn.completed') openPermissions.clear();
      if (event.type === 'warning') logger.warn(COMPONENT, `demo provider (pid ${pid}) warning: ${event.message}`);
      else if (event.type === 'version') logger.info(COMPONENT, `demo provider (pid ${pid}) version ${event.version}`);
      else logger.debug(COMPONENT, `demo provider (pid ${pid}) event ${event.type}`);
      proc.dispatch(event);
    },
    onExit() {
      openPermissions.clear();
    },
  });

  return {
    pid,
    exited: proc.exited,
    async deliver(turn: ProviderTurn): Promise<void> {
      const message: Record<string, unknown> = { type: 'user', deliveryId: turn.deliveryId, text: turn.text };
      if (turn.sender) message.sender = turn.sender;
      await proc.writeLine(message, `deliver ${turn.deliveryId}`);
      logger.debug(COMPONENT, `demo provider (pid ${pid}): delivered ${turn.deliveryId}`);
    },
    async interrupt(): Promise<void> {
      // Nothing runs in a process that is gone or going; that is not an error.
      if (!proc.running) return;
      await proc.writeLine({ type: 'interrupt' }, 'interrupt').catch((error: unknown) => {
        logger.warn(COMPONENT, `demo provider (pid ${pid}): interrupt not written: ${describeError(error)}`);
      });
    },
    decidePermission(requestId: string, decision: PermissionDecision): void {
      if (!openPermissions.delete(requestId)) {
        logger.debug(COMPONENT, `demo provider (pid ${pid}): ignored decision for unknown permission request ${requestId}`);
        return;
      }
      const message: Record<string, unknown> = { type: 'permission_decision', requestId, behavior: decision.behavior };
      if (decision.message !== undefined) message.message = decision.message;
      proc.writeLine(message, `answer permission request ${requestId}`).catch((error: unknown) => {
        logger.warn(COMPONENT, describeError(error));
      });
    },
    onEvent(listener: (event: ProviderEvent) => void): () => void {
      return proc.events.subscribe(listener);
    },
    attachSpec(): TerminalAttachSpec {
      return { kind: 'none' };
    },
    // The agent exits 0 as soon as its stdin closes; signals are only the fallback.
    stop: (): Promise<ProcessExit> => proc.stop(),
  };
}

async function requireScript(scriptPath: string): Promise<void> {
  // The usual cause is a bundled host that left the default, which points next to the bundle.
  const hint = 'ship provider-scripts/demo-agent.mjs with the app and pass its path as the scriptPath option of createDemoProvider';
  if (scriptPath === '') {
    throw new ProviderError(`demo agent script path unknown (this module has no file URL, e.g. inside a bundle); ${hint}`, {
      data: { scriptPath, option: 'scriptPath' },
    });
  }
  try {
    await access(scriptPath);
  } catch (error) {
    throw new ProviderError(`demo agent script not found at ${scriptPath}; ${hint}`, { data: { scriptPath, option: 'scriptPath' }, cause: error });
  }
}

/**
 * Extra environment for running a script with `nodePath`: inside Electron, `process.execPath` is the
 * app, which would start another copy of the app instead of running the script; `ELECTRON_RUN_AS_NODE`
 * makes it behave as plain Node.
 */
export function nodeRunnerEnv(nodePath: string, versions: NodeJS.ProcessVersions = process.versions, execPath: string = process.execPath): Record<string, string> {
  return versions.electron !== undefined && nodePath === execPath ? { ELECTRON_RUN_AS_NODE: '1' } : {};
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
 * (the agent exits 0), then escalates to SIGTERM and SIGKILL. Built on the provider kit
 * (`src/providers/kit/`), like every process-backed provider.
 * @public
 */
export function createDemoProvider(options: DemoProviderOptions = {}): ProviderAdapter {
  const nodePath = options.nodePath ?? process.execPath;
  const scriptPath = options.scriptPath ?? DEMO_AGENT_SCRIPT_PATH;
  const settings: ProcessSettings = resolveProcessOptions(options, { stopGraceMs: 2_000, killGraceMs: 3_000, versionTimeoutMs: 10_000 });
  const runAsNode = nodeRunnerEnv(nodePath);
  const version = new VersionCheck({
    displayName: 'demo agent',
    command: nodePath,
    args: [scriptPath, '--version'],
    ...(Object.keys(runAsNode).length > 0 ? { env: { ...process.env, ...runAsNode } } : {}),
    minVersion: settings.minVersion,
    testedVersion: settings.testedVersion,
    timeoutMs: settings.versionTimeoutMs,
  });

  return {
    name: 'demo',
    capabilities: CAPABILITIES,

    async checkVersion(deps: ProviderDeps): Promise<string> {
      await requireScript(scriptPath);
      return version.run(deps);
    },

    async start(launch: ProviderLaunch, deps: ProviderDeps): Promise<ProviderSession> {
      await requireScript(scriptPath);
      const args = [scriptPath, ...settings.extraArgs, ...(launch.extraArgs ?? [])];
      if (launch.resumeSessionId !== undefined) args.push('--resume', launch.resumeSessionId);
      const env = { ...launch.env, ...runAsNode, ...settings.env };
      const child = await spawnProviderProcess(deps, { command: nodePath, args, cwd: launch.cwd, env }, 'the demo provider');
      const resumeNote = launch.resumeSessionId === undefined ? '' : ` resuming ${launch.resumeSessionId}`;
      deps.logger.info(COMPONENT, `demo provider started (pid ${child.pid})${resumeNote}`);
      const proc = new JsonLinesProcess(child, deps, { ...settings, who: 'demo provider', ...(version.warning ? { startupWarning: version.warning } : {}) });
      return createDemoSession(proc);
    },
  };
}
