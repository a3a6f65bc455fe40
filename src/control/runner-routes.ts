/**
 * The runner's own control-port routes, the ones every provider has: status, terminal, obligations,
 * log level, the agent's own sends, and hook failure reports. Provider-specific routes (Claude
 * Code's hooks) are registered by the provider itself through its `ProviderHost`.
 */
import * as v from 'valibot';
import type { ControlRoute } from '../ports/control.js';
import { LOG_LEVELS, type LogLevel } from '../ports/logger.js';
import type { TerminalAttachSpec } from '../ports/provider.js';
import { FIELD_LIMITS } from '../protocol/relay-fields.js';
import { isRunnerError } from '../errors/index.js';
import { bodyObject, clip, defineRoute as route, MAX_NAME_CHARS, nonEmptyString, optionalString, requiredInteger, requiredString } from './body-schema.js';

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
 * One reply the agent still owes.
 * @public
 */
export interface OwedReply {
  /** Id of the relay message that expects an answer (pass it as `--reply-to`). */
  messageId: string;
  /** Who sent it (pass it as `--to`). */
  from: string;
  /** A short excerpt of the message. */
  excerpt?: string;
  /**
   * Whether the agent has been shown the message (its turn was delivered and confirmed). Only these
   * are demanded by the Stop decision; the others still wait in the runner's queue, and answering
   * them from the excerpt would answer them twice.
   */
  shown?: boolean;
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
 * `POST /send`: an agent's own relay message, to queue through the outbox. The bounds are the
 * relay's own (docs/protocol.md, "Limits"), so what the relay would refuse is refused here, at the
 * door, with a 400 the agent sees, instead of being queued, answered "queued" and lost later.
 */
export const sendRequestSchema = v.pipe(
  bodyObject({
    to: nonEmptyString(FIELD_LIMITS.id),
    body: requiredString(FIELD_LIMITS.messageBody),
    replyTo: optionalString(FIELD_LIMITS.id),
    kind: optionalString(MAX_NAME_CHARS),
  }),
  v.transform(({ to, body, replyTo, kind }) => ({ to, body, ...(replyTo ? { replyTo } : {}), ...(kind ? { kind } : {}) })),
);
/** An agent's own relay message (`agent-relay-runner send`). */
export type SendRequest = v.InferOutput<typeof sendRequestSchema>;

/** `POST /log-level`: the new level. */
export const logLevelSchema = bodyObject({
  level: v.pipe(
    requiredString(),
    v.picklist(LOG_LEVELS, (issue) => `invalid level "${clip(String(issue.input), 40)}"; valid levels: ${LOG_LEVELS.join(', ')}`),
  ),
});

/** `POST /hooks/fatal`: a hook script that failed unexpectedly (built by `hooks/lib.sh`, not by a provider). */
export const hookFatalSchema = bodyObject({
  hook: nonEmptyString(MAX_NAME_CHARS),
  line: requiredInteger(),
  exitCode: requiredInteger(),
  command: requiredString(),
});
/** A hook failure report. */
export type HookFatalReport = v.InferOutput<typeof hookFatalSchema>;

/**
 * What the runner's own routes need from the runner. Each member answers from local state; only
 * `send` waits (for the outbox's local write).
 */
export interface RunnerControl {
  /** `GET /status`: current provider/runner status. */
  providerStatus(): ProviderStatusSnapshot | Promise<ProviderStatusSnapshot>;
  /** `GET /terminal`: how a human attaches to the provider's terminal (`kind: 'none'` when not possible). */
  terminalAttachSpec(): TerminalAttachSpec | Promise<TerminalAttachSpec>;
  /** `GET /obligations`: the reply-obligation snapshot (local cache only). */
  obligations(): ObligationsView;
  /** `GET /log-level`: the runner logger's current level. */
  getLogLevel(): LogLevel;
  /** `POST /log-level`: change the runner logger's level (already validated). */
  setLogLevel(level: LogLevel): void;
  /** `POST /send`: queue the agent's own relay message through the outbox; resolve with its seq. */
  send(request: SendRequest): { seq: number } | Promise<{ seq: number }>;
  /** `POST /hooks/fatal`: a hook script crashed: log FATAL and queue a `hook_fatal` insight. */
  hookFatal(report: HookFatalReport): void | Promise<void>;
}

/** The runner's own routes, answered by `runner`. */
export function runnerControlRoutes(runner: RunnerControl): ControlRoute<unknown>[] {
  const routes = [
    route({ method: 'GET', path: '/status', handle: async () => ({ status: 200, body: await runner.providerStatus() }) }),
    route({ method: 'GET', path: '/terminal', handle: async () => ({ status: 200, body: await runner.terminalAttachSpec() }) }),
    route({ method: 'GET', path: '/obligations', handle: () => ({ status: 200, body: runner.obligations() }) }),
    route({ method: 'GET', path: '/log-level', handle: () => ({ status: 200, body: { level: runner.getLogLevel() } }) }),
    route({
      method: 'POST',
      path: '/log-level',
      body: logLevelSchema,
      handle: ({ level }) => {
        runner.setLogLevel(level);
        return { status: 200, body: { level: runner.getLogLevel() } };
      },
    }),
    route({
      method: 'POST',
      path: '/send',
      body: sendRequestSchema,
      handle: async (request) => {
        try {
          return { status: 200, body: { seq: (await runner.send(request)).seq } };
        } catch (error) {
          // The outbox is full of undelivered events (a long outage): not queued, and the agent must know.
          if (isRunnerError(error) && error.code === 'OUTBOX_FULL') return { status: 507, body: { error: error.message, code: error.code } };
          throw error;
        }
      },
    }),
    route({
      method: 'POST',
      path: '/hooks/fatal',
      body: hookFatalSchema,
      handle: async (report) => {
        await runner.hookFatal(report);
        return { status: 204 };
      },
    }),
  ];
  return routes as ControlRoute<unknown>[];
}
