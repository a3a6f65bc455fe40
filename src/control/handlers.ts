/**
 * The contract between the loopback control server (SPEC §8) and the runner that answers it.
 * The server owns transport, security and Claude-payload parsing; the runner implements
 * {@link ControlHandlers} and only ever sees typed, validated values.
 */
import type { LogLevel } from '../ports/logger.js';
import type { TerminalAttachSpec } from '../ports/provider.js';

export type { TerminalAttachSpec } from '../ports/provider.js';

/**
 * The provider/runner status the `GET /status` endpoint returns (JSON-serialised as is).
 * @remarks Structural on purpose: the runner's own status object (with more fields) fits.
 * @public
 */
export interface ProviderStatusSnapshot {
  /** Agent state: `starting`, `busy`, `idle`, `stalled`, `error` or `offline`. */
  state: string;
  /** Provider session id, when known. */
  sessionId?: string;
  /** Epoch ms of the last provider activity. */
  lastActivityAt?: number;
  /** Subagents currently running. */
  openSubagents?: number;
  /** Whether the runner is connected to the relay. */
  connected?: boolean;
}

/**
 * One reply the agent still owes, as the Stop decision sees it.
 * @public
 */
export interface OwedReply {
  /** Id of the relay message that expects an answer (pass it as `--reply-to`). */
  messageId: string;
  /** Who sent it (pass it as `--to`). */
  from: string;
  /** A short excerpt of the message, for the block reason. */
  excerpt?: string;
}

/**
 * The obligation snapshot the `GET /obligations` endpoint returns.
 * @public
 */
export interface ObligationsView {
  /** Replies still owed. */
  items: OwedReply[];
  /** Epoch ms of the last successful refresh, undefined before the first. */
  fetchedAt?: number;
  /** True when the last refresh failed and the items come from an earlier one. */
  stale: boolean;
}

/**
 * Fields every Claude Code hook payload carries (all optional: tolerated when missing).
 * @public
 */
export interface HookContext {
  /** Claude Code session id. */
  sessionId?: string;
  /** Path of the session transcript (JSONL). */
  transcriptPath?: string;
  /** Working directory of the session. */
  cwd?: string;
  /** Permission mode in force (`default`, `plan`, `acceptEdits`, …). */
  permissionMode?: string;
}

/**
 * SessionStart: a session began, resumed, was cleared or was compacted.
 * @public
 */
export interface SessionStartInput extends HookContext {
  /** Why the session started: `startup`, `resume`, `clear`, `compact` (others passed through). */
  source: string;
  /** Model in use, when Claude reports it. */
  model?: string;
}

/**
 * UserPromptSubmit: a prompt reached the model (relay-delivered or typed into the TUI).
 * @public
 */
export interface UserPromptInput extends HookContext {
  /** The prompt text, exactly as submitted. */
  prompt: string;
}

/**
 * Stop: the main agent finished a turn.
 * @public
 */
export interface StopInput extends HookContext {
  /** True when this stop follows a block by a Stop hook: never block again. */
  stopHookActive: boolean;
  /** The final assistant text, when Claude includes it (newer versions do). */
  lastAssistantMessage?: string;
}

/**
 * The turn that just ended, for the session mirror and for clearing busy.
 * @public
 */
export interface SessionTurnInput extends HookContext {
  /** The final assistant text, when known (else read it from the transcript). */
  lastAssistantMessage?: string;
  /** Which path reported it: the Stop call itself, or the Stop hook's exit fallback. */
  via: 'stop' | 'stop-exit';
}

/**
 * The runner's answer to "may the agent stop now?".
 * @public
 */
export interface StopDecision {
  /** True to make the agent continue (it still owes a reply). Ignored when `stopHookActive`. */
  block: boolean;
  /** What the agent is told to do; required when blocking. */
  reason?: string;
}

/**
 * StopFailure: the turn ended with an API error instead of a normal stop.
 * @public
 */
export interface StopFailureInput extends HookContext {
  /** Error type or message, as Claude reports it. */
  error?: string;
  /** Extra error detail (string, or JSON text of a structured detail). */
  errorDetails?: string;
  /** The last assistant text, when present. */
  lastAssistantMessage?: string;
}

/**
 * SubagentStart / SubagentStop.
 * @public
 */
export interface SubagentInput extends HookContext {
  /** `start` or `stop`. */
  phase: 'start' | 'stop';
  /** The subagent's id, when Claude provides it. */
  agentId?: string;
  /** The subagent's type (`Explore`, `general-purpose`, …), when provided. */
  agentType?: string;
  /** The subagent's final text (stop only), when provided. */
  lastAssistantMessage?: string;
}

/**
 * PreCompact / PostCompact.
 * @public
 */
export interface CompactInput extends HookContext {
  /** `pre` (about to compact) or `post` (compacted). */
  phase: 'pre' | 'post';
  /** `manual` (/compact) or `auto` (window full). */
  trigger?: string;
  /** Instructions passed to /compact (pre). */
  customInstructions?: string;
  /** The summary compaction produced (post), when provided. */
  compactSummary?: string;
}

/**
 * SessionEnd: the Claude Code session is ending.
 * @public
 */
export interface SessionEndInput extends HookContext {
  /** Why: `clear`, `logout`, `prompt_input_exit`, `other`, … */
  reason?: string;
}

/**
 * A hook script that failed unexpectedly (its ERR trap reports here).
 * @public
 */
export interface HookFatalReport {
  /** Hook script name (`stop`, `session-start`, …). */
  hook: string;
  /** Line of the failing command. */
  line: number;
  /** Exit status of the failing command. */
  exitCode: number;
  /** The failing command text. */
  command: string;
}

/**
 * An agent's own relay message (`agent-relay-runner send`), to queue through the outbox.
 * @public
 */
export interface SendRequest {
  /** Recipient agent or user. */
  to: string;
  /** Message body. */
  body: string;
  /** Id of the message this answers (clears the reply obligation). */
  replyTo?: string;
  /** Message kind (default chosen by the runner). */
  kind?: string;
}

/**
 * The result of {@link ControlHandlers.send}.
 * @public
 */
export interface SendResult {
  /** Outbox sequence number of the queued message. */
  seq: number;
}

/**
 * PermissionRequest: Claude is about to show its permission dialog.
 * @public
 */
export interface PermissionRequestInput extends HookContext {
  /** Tool that asks (`Bash`, `Write`, `mcp__x__y`, …). */
  toolName: string;
  /** The tool's input, as Claude sent it (any JSON object). */
  toolInput: Record<string, unknown>;
}

/**
 * The runner's answer to a permission request.
 * @remarks `ask` means "no decision": Claude falls back to its own dialog (the interactive
 * timeout path). Headless sessions should answer `deny` with a reason instead.
 * @public
 */
export type PermissionOutcome =
  | { behavior: 'allow'; updatedInput?: Record<string, unknown> }
  | { behavior: 'deny'; message: string; interrupt?: boolean }
  | { behavior: 'ask' };

/**
 * Per-request context passed to long-running handlers.
 * @public
 */
export interface ControlRequestContext {
  /** Aborted when the hook gave up (its curl timed out or Claude killed it): decide nothing late. */
  signal: AbortSignal;
}

/**
 * Extra context a hook may hand back to Claude (printed as `hookSpecificOutput.additionalContext`).
 * @public
 */
export interface HookAdditionalContext {
  /** Text added to the model's context. */
  additionalContext: string;
}

/**
 * The longest a permission request may wait at the runner, in ms.
 * @remarks The PermissionRequest hook's curl gives up at 290 s and Claude kills the hook at 300 s
 * (`hooks/hooks.json`); the runner must answer before either, so its bounded wait must stay below this.
 * @public
 */
export const PERMISSION_MAX_WAIT_MS = 280_000;

/**
 * What the runner implements to answer its control port. One method per endpoint.
 * @remarks
 * Methods may return a value or a promise. A thrown error (or rejection) becomes a 500 with a
 * generic message; the message is logged, never sent. Handlers must not wait on the relay
 * except where a member says so (only {@link ControlHandlers.permissionRequest} may wait).
 * @public
 */
export interface ControlHandlers {
  /** `GET /status`: current provider/runner status. */
  providerStatus(): ProviderStatusSnapshot | Promise<ProviderStatusSnapshot>;
  /** `GET /terminal`: how a human attaches to the provider's terminal (`kind: 'none'` when not possible). */
  terminalAttachSpec(): TerminalAttachSpec | Promise<TerminalAttachSpec>;
  /** `GET /obligations`: the reply-obligation snapshot. Synchronous: reads the local cache only. */
  obligations(): ObligationsView;
  /**
   * `POST /hooks/stop`: may the agent stop? SYNCHRONOUS by contract: read the local obligation
   * snapshot (SPEC §4), never the network.
   * @remarks The server never blocks when `input.stopHookActive` is true, whatever this returns.
   * When the answer does not block, the server then calls {@link ControlHandlers.sessionTurn}.
   */
  stopDecision(input: StopInput): StopDecision;
  /**
   * The turn ended: record it for the session mirror (transcript path, last assistant message)
   * and clear busy. Called after a non-blocking Stop, and by `POST /hooks/session-turn` (the Stop
   * hook's exit fallback when its main call failed).
   * @remarks May be called twice for one turn when a response was lost on the way back to the
   * hook; dedupe (e.g. on transcript path + last message). Resolve once recorded locally.
   */
  sessionTurn(turn: SessionTurnInput): void | Promise<void>;
  /**
   * `POST /hooks/user-prompt`: a prompt reached the model: mark delivery consumed or mirror a typed
   * prompt, and mark busy. A returned context is handed to Claude.
   */
  userPrompt(input: UserPromptInput): void | HookAdditionalContext | Promise<void | HookAdditionalContext>;
  /** `POST /hooks/session-start`: record the session id and source. A returned context is handed to Claude. */
  sessionStart(input: SessionStartInput): void | HookAdditionalContext | Promise<void | HookAdditionalContext>;
  /** `POST /hooks/subagent-start` and `/hooks/subagent-stop`: count open subagents. */
  subagent(input: SubagentInput): void | Promise<void>;
  /** `POST /hooks/pre-compact` and `/hooks/post-compact`: timeline and status. */
  compact(input: CompactInput): void | Promise<void>;
  /** `POST /hooks/stop-failure`: the turn died on an API error: clear busy, report it. */
  stopFailure(input: StopFailureInput): void | Promise<void>;
  /** `POST /hooks/session-end`: the session is ending (insights, status). */
  sessionEnd(input: SessionEndInput): void | Promise<void>;
  /** `POST /hooks/fatal`: a hook script crashed: log FATAL and queue a `hook_fatal` insight. */
  hookFatal(report: HookFatalReport): void | Promise<void>;
  /** `GET /log-level`: the runner logger's current level. */
  getLogLevel(): LogLevel;
  /** `POST /log-level`: change the runner logger's level (already validated). */
  setLogLevel(level: LogLevel): void;
  /** `POST /send`: queue the agent's own relay message through the outbox; resolve with its seq. */
  send(request: SendRequest): SendResult | Promise<SendResult>;
  /**
   * `POST /hooks/permission-request`: relay the request and wait (bounded, below
   * {@link PERMISSION_MAX_WAIT_MS}) for a decision. The server imposes no shorter timeout.
   * @remarks When `context.signal` aborts the hook is gone: settle quietly and apply nothing late.
   */
  permissionRequest(input: PermissionRequestInput, context: ControlRequestContext): PermissionOutcome | Promise<PermissionOutcome>;
}
