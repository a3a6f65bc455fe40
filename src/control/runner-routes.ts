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

/**
 * `POST /reply`: the agent's answer to a relay message it was given. The runner resolves the
 * recipient (the message's sender), so the agent names only the message.
 */
export const replyRequestSchema = bodyObject({
  messageId: nonEmptyString(FIELD_LIMITS.id),
  body: requiredString(FIELD_LIMITS.messageBody),
});
/** An agent's reply (`reply` relay tool). */
export type ReplyRequest = v.InferOutput<typeof replyRequestSchema>;

/** `POST /attachments`: which message's downloaded attachments to list. */
export const attachmentsRequestSchema = bodyObject({ messageId: nonEmptyString(FIELD_LIMITS.id) });

/** What the runner knows of a message the agent refers to by id (`POST /reply`, `POST /attachments`). */
export interface KnownMessage {
  /** Who sent it: the reply goes there. */
  from: string;
  /** Local paths of its downloaded attachments (none when it had none, or when they were skipped). */
  attachments: string[];
}

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
  /**
   * `POST /reply`, `POST /attachments`: a message the agent names by id — one this run accepted,
   * or one the relay still lists as owed (its attachments then unknown: an empty list). Undefined
   * when the runner does not know it.
   */
  message(messageId: string): KnownMessage | undefined;
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
      handle: (request) => queued(() => runner.send(request), (seq) => ({ seq })),
    }),
    route({
      method: 'POST',
      path: '/reply',
      body: replyRequestSchema,
      handle: async ({ messageId, body }) => {
        const known = runner.message(messageId);
        if (!known) return unknownMessage(messageId);
        return queued(() => runner.send({ to: known.from, body, replyTo: messageId }), (seq) => ({ seq, to: known.from, replyTo: messageId }));
      },
    }),
    route({
      method: 'POST',
      path: '/attachments',
      body: attachmentsRequestSchema,
      handle: ({ messageId }) => {
        const known = runner.message(messageId);
        if (!known) return unknownMessage(messageId);
        return { status: 200, body: { messageId, paths: known.attachments } };
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

/** 404 for a message id the runner does not know, with what the agent can do instead. */
function unknownMessage(messageId: string): { status: number; body: { error: string } } {
  return {
    status: 404,
    body: { error: `unknown message id "${clip(messageId, 80)}": this runner was not given that message and owes no reply to it; check the id in the message header, or send to the sender by name` },
  };
}

/** Queue through the outbox and answer 200 with `answer(seq)`; a full outbox is a 507 the agent sees. */
async function queued(send: () => { seq: number } | Promise<{ seq: number }>, answer: (seq: number) => object): Promise<{ status: number; body: object }> {
  try {
    return { status: 200, body: answer((await send()).seq) };
  } catch (error) {
    // The outbox is full of undelivered events (a long outage): not queued, and the agent must know.
    if (isRunnerError(error) && error.code === 'OUTBOX_FULL') return { status: 507, body: { error: error.message, code: error.code } };
    throw error;
  }
}
