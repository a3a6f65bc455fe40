import type { Clock } from './clock.js';
import type { ControlRoute } from './control.js';
import type { Logger } from './logger.js';
import type { ProcessExit, ProcessSpawner } from './process-spawner.js';

/**
 * What a provider can do; the runner adapts its behaviour to it.
 * @public
 */
export interface ProviderCapabilities {
  /** Turns are written as structured input (JSON), not typed keystrokes. */
  structuredInput: boolean;
  /** The provider can resume a previous session by id. */
  resume: boolean;
  /** The provider runs a TUI a human may attach to. */
  interactive: boolean;
  /** Turn lifecycle comes from the Claude Code hooks calling the control port (not from stdout). */
  hookDriven: boolean;
  /** What happens to a message that arrives while a turn runs: held until idle, or steered into the turn. */
  midTurnMessages: 'queue' | 'steer';
}

/**
 * Who sent a turn, so the agent knows whom to answer and how.
 * @public
 */
export interface TurnSender {
  /** Sender's name or agent id on the relay. */
  from: string;
  /** Relay message id the turn carries. */
  messageId: string;
  /** Whether the sender expects a reply (an obligation exists). */
  expectsReply: boolean;
  /** Task id, when the message assigned a task. */
  taskId?: string;
  /** A previous attempt at this message was interrupted (the provider or the runner died mid-turn). */
  retry?: boolean;
}

/**
 * One user turn for the provider.
 * @public
 */
export interface ProviderTurn {
  /** Delivery id chosen by the runner; providers echo it in `turn.started` to confirm consumption. */
  deliveryId: string;
  /** Full text of the turn (relay context block already prepended when due). */
  text: string;
  /** Structured sender metadata; undefined for the initial prompt. */
  sender?: TurnSender;
}

/**
 * Session and turn events a provider reports (from its output, or from hooks it translates).
 * @remarks The lifecycle variants a hook-reporting provider adds: `session.ended` (the provider's
 * session is ending; `reason` as the provider names it, e.g. Claude's `prompt_input_exit`),
 * `compaction` (the context is being compacted, `pre`, or was, `post`; `trigger` is `manual` or
 * `auto` when known) and `turn.failed` (the turn died on an error such as an API failure; a
 * provider that reports turns itself follows it with `turn.completed` `interrupted`).
 * @public
 */
export type ProviderEvent =
  | { type: 'session'; sessionId: string; source: 'startup' | 'resume' | 'clear' | 'compact' }
  | { type: 'turn.started'; deliveryId?: string; turnId?: string; prompt?: string }
  | { type: 'reasoning'; text: string }
  | { type: 'tool'; name: string; summary: string; status: 'started' | 'completed' | 'failed' }
  | { type: 'assistant'; text: string }
  | { type: 'turn.completed'; turnId?: string; finalText?: string; interrupted?: boolean }
  | { type: 'usage'; usedTokens: number; windowTokens?: number }
  | { type: 'subagent'; phase: 'start' | 'stop'; id?: string }
  | { type: 'permission'; requestId: string; tool: string; summary: string }
  | { type: 'version'; version: string }
  /**
   * Something worth a WARN line. `topic: 'version'` marks the warning about a CLI newer than the
   * newest version the adapter was tested with: the runner also keeps it in `status.providerWarning`.
   */
  | { type: 'warning'; message: string; topic?: 'version' }
  | { type: 'session.ended'; reason: string }
  | { type: 'compaction'; phase: 'pre' | 'post'; trigger?: string }
  | { type: 'turn.failed'; error?: string; details?: string };

/**
 * A permission decision from the relay, or the runner's fail-closed default.
 * @public
 */
export interface PermissionDecision {
  /** Allow or deny the tool call. */
  behavior: 'allow' | 'deny';
  /** Reason shown to the agent on deny. */
  message?: string;
}

/**
 * The answer to a permission request a provider relayed through its host: a decision, or `ask`
 * (nobody decided in time: the provider falls back to its own dialog).
 * @public
 */
export type HostPermissionOutcome = PermissionDecision | { behavior: 'ask'; message?: string };

/**
 * What the runner offers a provider beyond processes, logging and time: control-port routes (for
 * hooks the provider's CLI calls) and the runner decisions those hooks ask for.
 * @public
 */
export interface ProviderHost {
  /**
   * Serve a route on the runner's control port; returns the function that removes it. Register
   * when a session starts, remove when it ends.
   * @throws `InvalidArgumentError` when the method and path are already taken.
   */
  addControlRoute<B>(route: ControlRoute<B>): () => void;
  /**
   * May the agent stop now? SYNCHRONOUS: answered from the runner's local obligation snapshot,
   * never the network. Never blocks when `stopHookActive` (the stop already follows a block).
   */
  stopDecision(stopHookActive: boolean): { block: boolean; reason?: string };
  /**
   * Relay a permission request and wait (bounded by the runner's permission timeout) for the
   * decision. Interactive providers get `ask` on timeout, the others `deny` with a reason.
   */
  requestPermission(request: { tool: string; summary: string; input?: unknown }): Promise<HostPermissionOutcome>;
}

/**
 * How a human can attach to an interactive provider's terminal.
 * @public
 */
export interface TerminalAttachSpec {
  /** The kind of terminal. */
  kind: 'tmux' | 'pty' | 'none';
  /** A command line a human can run to attach, when there is one. */
  command?: string[];
}

/**
 * The part of the relay's agent profile (SPEC §7) a provider projects into its launch: the
 * registration's `profile` minus the relay feature switches, which the runner applies itself.
 * @remarks Precedence (docs/providers.md "Profile projection"): an explicit option of the host
 * (a provider option or a flag in its `extraArgs`) wins over the profile; the profile wins over
 * the provider's defaults; tool lists are added to the host's.
 * @public
 */
export interface ProviderProfile {
  /** Model the provider should use. */
  model?: string;
  /** Provider permission mode (Claude `--permission-mode`; Codex an approval policy or sandbox mode). */
  permissionMode?: string;
  /** Tools the provider may use without asking. */
  allowedTools?: readonly string[];
  /** Tools the provider must not use. */
  disallowedTools?: readonly string[];
  /** Extra instructions for the provider's system prompt. */
  extraInstructions?: string;
  /** Use the host's own provider configuration instead of an isolated config home. */
  useHostConfig?: boolean;
}

/**
 * A field of {@link ProviderProfile}.
 * @public
 */
export type ProviderProfileField = keyof ProviderProfile;

/**
 * Everything a provider needs to launch.
 * @public
 */
export interface ProviderLaunch {
  /** Working directory of the agent. */
  cwd: string;
  /** Environment for the provider process (includes the control port variables for hooks). */
  env: Record<string, string>;
  /** Session id to resume, when the runner has one. */
  resumeSessionId?: string;
  /** Extra launch flags, appended after the provider's own. */
  extraArgs?: string[];
  /** The relay's agent profile, for the provider to project into its launch (absent: none). */
  profile?: ProviderProfile;
}

/**
 * The ports a provider may use; each runner passes its own.
 * @public
 */
export interface ProviderDeps {
  /** Starts the provider process. */
  spawner: ProcessSpawner;
  /** The runner's logger. */
  logger: Logger;
  /** The runner's clock. */
  clock: Clock;
  /**
   * The runner itself (control routes, Stop decision, permission relay). Absent when a provider
   * runs outside a runner (tests, tools): then it registers no routes.
   */
  host?: ProviderHost;
}

/**
 * A running provider session.
 * @public
 */
export interface ProviderSession {
  /** OS pid of the provider process, if any. */
  readonly pid: number | undefined;
  /** Write a user turn; resolves when it was handed to the provider ("injected"). */
  deliver(turn: ProviderTurn): Promise<void>;
  /** Interrupt the current turn. */
  interrupt(): Promise<void>;
  /** Answer a permission request the provider raised. Unknown ids are ignored. */
  decidePermission(requestId: string, decision: PermissionDecision): void;
  /** Subscribe to events. Returns an unsubscribe function. */
  onEvent(listener: (event: ProviderEvent) => void): () => void;
  /** How to attach a terminal, for interactive providers. */
  attachSpec(): TerminalAttachSpec;
  /** Settles when the process exits (never rejects). */
  readonly exited: Promise<ProcessExit>;
  /** Stop the provider (graceful, then forced). */
  stop(): Promise<ProcessExit>;
}

/**
 * The contract a provider implements (SPEC §9). Hosts may pass their own.
 * @public
 */
export interface ProviderAdapter {
  /** Short name: `demo`, `claude`, `codex`, … */
  readonly name: string;
  /** What this provider can do. */
  readonly capabilities: ProviderCapabilities;
  /**
   * The {@link ProviderProfile} fields this provider projects into its launch; the runner logs the
   * others as not projected. @defaultValue none
   */
  readonly profileFields?: readonly ProviderProfileField[];
  /** Read and check the provider's version; rejects with `ProviderError` when missing or too old. */
  checkVersion(deps: ProviderDeps): Promise<string>;
  /** Start a session. */
  start(launch: ProviderLaunch, deps: ProviderDeps): Promise<ProviderSession>;
}
