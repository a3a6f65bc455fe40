import { access, chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { ProviderAdapter, ProviderCapabilities, ProviderDeps, ProviderLaunch, ProviderSession } from '../../ports/provider.js';
import type { Logger } from '../../ports/logger.js';
import { ProviderError } from '../../errors/index.js';
import { describeError } from '../../shared/describe-error.js';
import { COMPONENT } from '../kit/text.js';
import { CLAUDE_PLUGIN_DIR, claudeLaunchArgs, claudeVersionCheck, DEFAULT_ALLOWED_TOOLS, requirePluginDir, type ClaudeRelayToolsOptions } from './common.js';
import { createInteractiveSession } from './interactive-session.js';
import { ENV_NAME, runTmux, shellQuote, wrapperScript, type Settings, type TmuxResult } from './tmux.js';
import { withClaudeHooks } from './hook-routes.js';
import { CLAUDE_PROFILE_FIELDS, withClaudeProfile } from './profile.js';

export { sanitizeTypedText } from './tmux.js';

/**
 * Options of {@link createClaudeInteractiveProvider}.
 * @public
 */
export interface ClaudeInteractiveProviderOptions extends ClaudeRelayToolsOptions {
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
   * @defaultValue `['mcp__relay', 'Bash(agent-relay-runner send:*)']`
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
   * Newest `claude --version` tested; a newer one runs, logged at WARN and reported as a `warning` event.
   * @defaultValue {@link CLAUDE_CODE_TESTED_VERSION}
   */
  testedVersion?: string;
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
  /**
   * Whether the attach command ({@link ProviderSession.attachSpec}, `GET /terminal`) attaches
   * read-only (`tmux attach-session -r`): a human watches, and cannot type into the agent's input
   * box by accident. `false` gives a command that can type too.
   * @defaultValue true
   */
  attachReadOnly?: boolean;
}

/** Interactive: turns come from the hooks; input is typed (bracketed paste) into the TUI. */
const CAPABILITIES: ProviderCapabilities = Object.freeze({
  structuredInput: false,
  resume: true,
  interactive: true,
  hookDriven: true,
  midTurnMessages: 'queue',
});

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
  const allowedTools = [...(options.allowedTools ?? DEFAULT_ALLOWED_TOOLS)];
  const relayTools = { relayTools: options.relayTools ?? true, strictMcpConfig: options.strictMcpConfig ?? false };
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
    attachReadOnly: options.attachReadOnly ?? true,
  };
  // One socket path and session name for the adapter's lifetime: the attach command a human copied
  // stays valid across restarts (the directory itself goes with each session and is made again).
  let place: { dir: string; name: string } | undefined;
  // Transcript of each session id (from SessionStart). Claude Code writes it with the first turn:
  // a session restarted before any turn has none, and `--resume` of it exits at once, every time.
  const transcripts = new Map<string, string>();
  const resumable = async (launch: ProviderLaunch, logger: Logger): Promise<ProviderLaunch> => {
    const { resumeSessionId: sessionId, ...fresh } = launch;
    const path = sessionId === undefined ? undefined : transcripts.get(sessionId);
    if (path === undefined || (await access(path).then(() => true, () => false))) return launch;
    logger.warn(COMPONENT, `claude-interactive: not resuming session ${sessionId} (it has no transcript: no turn ran); starting a new session`);
    return fresh;
  };
  const privatePlace = async (logger: Logger): Promise<{ dir: string; name: string }> => {
    if (place) {
      try {
        // Not recursive, and fails on anything already there (a squatter's dir or symlink included).
        await mkdir(place.dir, { mode: 0o700 });
        await chmod(place.dir, 0o700);
        return place;
      } catch (error) {
        logger.warn(COMPONENT, `claude-interactive: cannot reuse ${place.dir} (${describeError(error)}); the attach command changes`);
      }
    }
    const dir = await mkdtemp(join(options.socketParentDir ?? tmpdir(), 'arr-tmux-'));
    await chmod(dir, 0o700);
    place = { dir, name: `arr-${randomBytes(4).toString('hex')}` };
    return place;
  };
  // The version check is the headless adapter's (same binary, same rule).
  const versionCheck = claudeVersionCheck(command, options.minVersion, options.testedVersion, versionTimeoutMs);

  return {
    name: 'claude-interactive',
    capabilities: CAPABILITIES,
    profileFields: CLAUDE_PROFILE_FIELDS,

    async checkVersion(deps: ProviderDeps): Promise<string> {
      const version = await versionCheck.run(deps);
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
      await requirePluginDir(pluginDir, 'createClaudeInteractiveProvider');
      const { logger, clock } = deps;
      // The relay profile's flags join the launch's extra args; a session with no transcript is not resumed.
      launch = await resumable(withClaudeProfile(launch, extraArgs, logger, 'claude-interactive'), logger);
      const { dir, name } = await privatePlace(logger);
      const socket = join(dir, 'tmux.sock');
      const envFile = join(dir, 'env');
      const script = join(dir, 'run.sh');
      const exitFile = join(dir, 'exit');
      const tmuxConf = join(dir, 'tmux.conf');
      // The tool hooks are inert unless asked: headless mode has its tool steps from stdout.
      const env: Record<string, string> = { ...launch.env, ...extraEnv, AGENT_RELAY_TOOL_HOOKS: '1' };

      const envLines: string[] = [];
      for (const [key, value] of Object.entries(env)) {
        if (!ENV_NAME.test(key)) {
          logger.warn(COMPONENT, `claude-interactive: skipped environment variable with an unusable name (${JSON.stringify(key).slice(0, 60)})`);
          continue;
        }
        envLines.push(`${key}=${shellQuote(value)}`);
      }
      await writeFile(envFile, `${envLines.join('\n')}\n`, { mode: 0o600 });

      const args = claudeLaunchArgs(pluginDir, allowedTools, [...extraArgs, ...(launch.extraArgs ?? [])], launch.resumeSessionId, { ...relayTools, env: launch.env });
      const wrapper = wrapperScript(envFile, launch.cwd, [command, ...args], exitFile);
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
      const session = createInteractiveSession({
        deps, settings, tmux, dir, socket, name, exitFile, pid, startedAt: clock.now(),
        ...(versionCheck.warning ? { startupWarning: versionCheck.warning } : {}),
      });
      return withClaudeHooks(session, deps, { hookDriven: true, transcriptMirror: true, onSessionTranscript: (id, path) => transcripts.set(id, path) });
    },
  };
}
