/**
 * agent-relay-runner: run one AI coding agent as a participant on an Agent Relay server.
 * @packageDocumentation
 */
export * from './errors/index.js';
export * from './ports/index.js';
// The relay wire schemas (valibot); their types come with the ports above.
export * from './protocol/relay-agents.js';
export * from './protocol/relay-messages.js';
export * from './protocol/relay-events.js';
export * from './protocol/relay-permissions.js';
export * from './protocol/relay-bus.js';
export { createSystemClock } from './adapters/system-clock.js';
export { createFileLogger, createSilentLogger, type FileLogger, type FileLoggerOptions } from './adapters/tslog-logger.js';
export { createChildProcessSpawner, type ChildProcessSpawnerOptions } from './adapters/child-process-spawner.js';
export { createDemoProvider, DEMO_AGENT_SCRIPT_PATH, type DemoProviderOptions } from './providers/demo/provider.js';
export {
  createFetchRelayHttp,
  parseRetryAfter,
  type FetchRelayHttp,
  type FetchRelayHttpOptions,
  type FetchLike,
  type FetchResponseLike,
} from './adapters/fetch-relay-http.js';
export { createWsRelayBus, type WsRelayBus, type WsRelayBusOptions, type WsRelayBusStats } from './adapters/ws-relay-bus.js';
export { createRelayOutboxSend } from './adapters/relay-outbox-send.js';
export {
  createOutbox,
  type Outbox,
  type OutboxOptions,
  type OutboxPolicy,
  type OutboxEventInput,
  type OutboxStats,
  type OutboxEvents,
  type OutboxDeliveredEvent,
  type OutboxRetryEvent,
  type OutboxPoisonedEvent,
  type OutboxRejectedEvent,
  type OutboxShedEvent,
  SHEDDABLE_OUTBOX_KINDS,
} from './core/outbox.js';
export type { TypedEvents, EventMap } from './core/emitter.js';
export { createObligationCache, type ObligationCache, type ObligationCacheOptions, type ObligationSnapshot } from './core/obligations.js';
export { createRunner, RUNNER_VERSION, type Runner, type RunnerOptions, type TypedEmitter } from './create-runner.js';
export type { StopOptions } from './agent-runner.js';
export type { RunnerEvents, RunnerOutboxEvent, SentEvent, TimelineEvent, MirrorEvent, StopVerdict, RelayedPermissionOutcome, PendingPermission } from './core/runner.js';
export type { LocalPermissionRequest, LocalPermissionAnswer } from './core/permissions.js';
export type { AgentStatus, AgentState } from './core/status.js';
export type { DeliveryEvent, DeliveryState, InboundMessage } from './core/delivery.js';
export type { ExitPolicyOptions, ExitDecision } from './core/exit-policy.js';
export type { WorkspaceInfo } from './core/turns.js';
export { createControlServer, type ControlServer, type ControlServerOptions } from './control/control-server.js';
export type { MonitorLink } from './control/monitor-auth.js';
export type { ProviderStatusSnapshot, ObligationsView, OwedReply } from './control/runner-routes.js';
export { PERMISSION_MAX_WAIT_MS } from './providers/claude/hook-routes.js';
export { createSqlJsOutboxStore, type SqlJsOutboxStoreOptions } from './adapters/sqljs-outbox-store/index.js';
export { createMemoryOutboxStore } from './adapters/memory-outbox-store.js';
export type { ProcessProviderOptions } from './providers/kit/options.js';
export { relayToolsServer, writeSendScript, sendScriptCommand, RELAY_TOOLS_SERVER, type RelayToolsServerSpec } from './providers/kit/relay-tools.js';
export { createCodexProvider, MIN_CODEX_VERSION, CODEX_TESTED_VERSION, type CodexProviderOptions, type CodexModelProvider } from './providers/codex/provider.js';
export type { CodexApprovalPolicy, CodexSandboxMode } from './providers/codex/provider.js';
export {
  createOpenCodeProvider,
  MIN_OPENCODE_VERSION,
  OPENCODE_TESTED_VERSION,
  OPENCODE_DEFAULT_PERMISSION,
  type OpenCodeProviderOptions,
  type OpenCodeModelProvider,
  type OpenCodePermissionRule,
  type OpenCodeMcpServer,
} from './providers/opencode/provider.js';
export { createClaudeCodeProvider, CLAUDE_PLUGIN_DIR, CLAUDE_CODE_MIN_VERSION, CLAUDE_CODE_TESTED_VERSION, type ClaudeCodeProviderOptions } from './providers/claude/headless.js';
export { createClaudeInteractiveProvider, type ClaudeInteractiveProviderOptions } from './providers/claude/interactive.js';
export type { ClaudeRelayToolsOptions } from './providers/claude/common.js';
