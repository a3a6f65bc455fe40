import { chmod, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ProviderAdapter, ProviderDeps, ProviderLaunch, ProviderSession } from '../../ports/provider.js';
import { ProviderError } from '../../errors/index.js';
import { describeError } from '../../shared/describe-error.js';
import { resolveProcessOptions, type ProcessProviderOptions, STRUCTURED_PROVIDER_CAPABILITIES } from '../kit/options.js';
import { JsonLinesProcess, spawnProviderProcess } from '../kit/process-session.js';
import { COMPONENT } from '../kit/text.js';
import { VersionCheck } from '../kit/version.js';
import { RELAY_TOOLS_ENV_NAMES, RELAY_TOOLS_SERVER, relayToolsServer } from '../kit/relay-tools.js';
import { configArgs, mcpServerArgs, type CodexApprovalPolicy, type CodexModelProvider, type CodexSandboxMode } from './config.js';
import { CodexSession } from './session.js';
import { CODEX_PROFILE_FIELDS, codexProfileSettings, logCodexProfile, threadSettings, type CodexHostChoices } from './profile.js';

export type { CodexApprovalPolicy, CodexModelProvider, CodexSandboxMode } from './config.js';

/**
 * The oldest `codex` CLI this adapter speaks to: its protocol types were generated from 0.169.0.
 * @public
 */
export const MIN_CODEX_VERSION = '0.169.0';

/**
 * The newest `codex` CLI this adapter was tested with (the CLI pinned for the end-to-end tests);
 * a newer one runs, with a warning.
 * @public
 */
export const CODEX_TESTED_VERSION = '0.169.0';

/**
 * Options of {@link createCodexProvider}. Defaults of the shared options: `stopGraceMs` 2000,
 * `killGraceMs` 3000, `versionTimeoutMs` 10000, `bufferEvents` 1000, `minVersion`
 * {@link MIN_CODEX_VERSION}, `testedVersion` {@link CODEX_TESTED_VERSION}; `env` is added to the
 * launch environment (e.g. the model provider's API key variable), `extraArgs` to `codex app-server`.
 * @public
 */
export interface CodexProviderOptions extends ProcessProviderOptions {
  /**
   * The `codex` executable (a name on PATH or a path).
   * @defaultValue `codex`
   */
  command?: string;
  /**
   * `CODEX_HOME` of the sessions: config, auth and thread rollouts (needed to resume) live there.
   * @defaultValue a private temp dir created on first start and reused by every later start of this
   * adapter (so a restarted process can resume its thread). Pass the host's `~/.codex` to use its
   * own login and config.
   */
  codexHome?: string;
  /** Model name (`-c model=…`). @defaultValue Codex's own default */
  model?: string;
  /** A model provider entry to configure and select. @defaultValue none (Codex's default provider) */
  modelProvider?: CodexModelProvider;
  /**
   * Further `-c key=value` overrides; values are TOML (strings need quotes: `'"value"'`).
   * @defaultValue `{}`
   */
  config?: Readonly<Record<string, string>>;
  /**
   * When Codex asks for approval (each request becomes a relayed `permission` event).
   * @defaultValue `on-request`
   */
  approvalPolicy?: CodexApprovalPolicy;
  /** Sandbox of the agent's commands. @defaultValue `workspace-write` */
  sandbox?: CodexSandboxMode;
  /** How long a JSON-RPC request to the app server may take. @defaultValue 30000 */
  requestTimeoutMs?: number;
  /**
   * Register the relay tools' MCP server (`mcp_servers.relay`, tools pre-approved, the control port
   * and token forwarded by `env_vars`, never on argv): the agent's way back that works inside
   * Codex's default sandbox. `false` leaves only the `send` fallback (blocked by the default
   * `workspace-write` sandbox). See docs/providers.md, "Codex".
   * @defaultValue `true`
   */
  relayTools?: boolean;
}

/**
 * Added to the reminder turn when the relay tools are registered: how Codex names the tool, and why
 * not `send` (the default sandbox refuses its loopback connection).
 */
const CODEX_HOW_TO_ANSWER =
  'In Codex the reply tool is `reply` in the `mcp__relay` namespace (the `relay` MCP server): call it with the message id and your answer. ' +
  "The send command runs inside Codex's sandbox, which may refuse its connection to the runner.";

/**
 * Capabilities of the Codex provider. Mid-turn messages are queued, not steered: see docs/providers.md.
 */
const CAPABILITIES = STRUCTURED_PROVIDER_CAPABILITIES;

const CLIENT_VERSION = '1';

/**
 * The Codex provider: `codex app-server` over JSON-RPC on stdio (SPEC §9).
 *
 * @remarks
 * Each start spawns `codex app-server` with an isolated `CODEX_HOME` (see
 * {@link CodexProviderOptions.codexHome}), sends `initialize` / `initialized`, then `thread/resume`
 * with the runner's recorded session id (a `session` event with source `resume`) or `thread/start`
 * (source `startup`). The thread id is the session id. Turns go out as `turn/start`; a turn
 * delivered while another runs is queued and started when that one completes
 * (`midTurnMessages: 'queue'`, see docs/providers.md). Notifications map to events: `turn/started`
 * → `turn.started` with the turn's delivery id; completed reasoning items → `reasoning`;
 * command executions, file changes and tool calls → `tool` (started, then completed / failed);
 * agent messages → `assistant`; `turn/completed` → `turn.completed` with the last agent message as
 * `finalText`; `thread/tokenUsage/updated` → `usage` (the newest call's tokens and the context
 * window). Command and file-change approval requests become `permission` events answered through
 * {@link ProviderSession.decidePermission}; a malformed decision, the end of the turn, or the end
 * of the session denies them (fail closed); other server requests are refused. Unparseable lines
 * are logged with `logger.warn` and surfaced as `warning` events; unknown fields and notifications
 * are tolerated. Telemetry and update checks are switched off with `-c` overrides.
 * @public
 */
export function createCodexProvider(options: CodexProviderOptions = {}): ProviderAdapter {
  const command = options.command ?? 'codex';
  const settings = resolveProcessOptions(options, {
    stopGraceMs: 2_000,
    killGraceMs: 3_000,
    versionTimeoutMs: 10_000,
    minVersion: MIN_CODEX_VERSION,
    testedVersion: CODEX_TESTED_VERSION,
  });
  const relayTools = options.relayTools ?? true;
  const sessionSettings = {
    requestTimeoutMs: options.requestTimeoutMs ?? 30_000,
    approvalPolicy: options.approvalPolicy ?? 'on-request',
    sandbox: options.sandbox ?? 'workspace-write',
    howToAnswer: relayTools ? CODEX_HOW_TO_ANSWER : undefined,
    // Codex's own startup bound for the server is 30 s (mcpServerArgs); a little more here.
    awaitMcpServer: relayTools ? { name: RELAY_TOOLS_SERVER, timeoutMs: 35_000 } : undefined,
  } as const;
  const version = new VersionCheck({
    displayName: 'Codex CLI',
    command,
    minVersion: settings.minVersion,
    testedVersion: settings.testedVersion,
    timeoutMs: settings.versionTimeoutMs,
  });
  const args = ['app-server', ...configArgs(options), ...settings.extraArgs];
  const hostChoices: CodexHostChoices = {
    model: options.model, approvalPolicy: options.approvalPolicy, sandbox: options.sandbox, codexHome: options.codexHome,
    configModel: options.config?.['model'] !== undefined, configInstructions: options.config?.['developer_instructions'] !== undefined,
  };
  let codexHome: Promise<string> | undefined = options.codexHome === undefined ? undefined : Promise.resolve(options.codexHome);

  const resolveHome = (): Promise<string> => {
    // One private home for the adapter's lifetime: a restarted process must find the thread rollout.
    codexHome ??= (async () => {
      const dir = await mkdtemp(join(tmpdir(), 'agent-relay-codex-'));
      await chmod(dir, 0o700);
      return dir;
    })();
    return codexHome;
  };

  return {
    name: 'codex',
    capabilities: CAPABILITIES,
    profileFields: CODEX_PROFILE_FIELDS,

    checkVersion: (deps: ProviderDeps): Promise<string> => version.run(deps),

    async start(launch: ProviderLaunch, deps: ProviderDeps): Promise<ProviderSession> {
      const fromProfile = codexProfileSettings(launch.profile, hostChoices, { ...launch.env, ...settings.env });
      logCodexProfile(deps.logger, launch.profile, fromProfile);
      const home = fromProfile.codexHome ?? (await resolveHome());
      const env: Record<string, string> = { ...launch.env, ...settings.env, CODEX_HOME: home };
      // The spec is built without the agent's env: the port and token reach the server by env_vars.
      const mcp = relayTools ? mcpServerArgs(RELAY_TOOLS_SERVER, relayToolsServer({}), RELAY_TOOLS_ENV_NAMES) : [];
      const child = await spawnProviderProcess(deps, { command, args: [...args, ...mcp, ...(launch.extraArgs ?? [])], cwd: launch.cwd, env }, 'codex app-server');
      const resumeNote = launch.resumeSessionId === undefined ? '' : `, resuming ${launch.resumeSessionId}`;
      deps.logger.info(COMPONENT, `codex app-server started (pid ${child.pid}, CODEX_HOME ${home}${resumeNote})`);
      const proc = new JsonLinesProcess(child, deps, { ...settings, who: 'codex', ...(version.warning ? { startupWarning: version.warning } : {}) });
      const session = new CodexSession(proc, { ...sessionSettings, ...threadSettings(fromProfile) }, launch.cwd);
      try {
        await session.open(launch.resumeSessionId, CLIENT_VERSION);
      } catch (error) {
        await child.kill({ signal: 'SIGKILL' }).catch(() => undefined);
        throw new ProviderError(`codex app-server handshake failed: ${describeError(error)}`, { data: { command, pid: child.pid }, cause: error });
      }
      return session;
    },
  };
}
