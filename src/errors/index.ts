/**
 * Every error this library throws on purpose is a {@link RunnerError} with a stable `code`.
 * Hosts branch on `code` (or on the subclass), never on the message text.
 */

/**
 * The stable codes carried by {@link RunnerError}.
 * @remarks `BIND_FAILED`: the control port could not listen (port in use, not allowed);
 * `DATA_DIR`: the runner's data directory (or its scratch directory) cannot be created or written;
 * `OUTBOX_FULL`: the outbox's byte budget is spent by events the relay has not accepted yet and
 * the event offered may not be shed (an agent message): it was not queued, try again later;
 * `MESSAGE_REJECTED`: the relay permanently refused one of the agent's own messages (a 4xx after
 * it was queued); for a reply, the obligation it was meant to clear is owed again;
 * `STORE_LOCKED`: another writer (process or store object) holds the outbox store; `data.pid` names it.
 * @public
 */
export type RunnerErrorCode =
  | 'INVALID_ARGUMENT'
  | 'CLOSED'
  | 'STORE_FAILURE'
  | 'STORE_CORRUPT'
  | 'STORE_LOCKED'
  | 'RELAY_HTTP'
  | 'RELAY_AUTH'
  | 'RELAY_TIMEOUT'
  | 'RELAY_UNAVAILABLE'
  | 'PROTOCOL'
  | 'PROCESS'
  | 'PROVIDER'
  | 'TIMEOUT'
  | 'BIND_FAILED'
  | 'DATA_DIR'
  | 'OUTBOX_FULL'
  | 'MESSAGE_REJECTED';

/**
 * Base class of every error this library throws on purpose.
 * @remarks `data` carries machine-readable details; `cause` the underlying error, if any.
 * @public
 */
export class RunnerError extends Error {
  /** Stable, documented code; safe to branch on. */
  readonly code: RunnerErrorCode;
  /** Machine-readable details (never secrets). */
  readonly data: Readonly<Record<string, unknown>>;

  /** Create an error with a code, a one-line message and optional details. */
  constructor(
    code: RunnerErrorCode,
    message: string,
    options: { data?: Record<string, unknown>; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.data = Object.freeze({ ...(options.data ?? {}) });
  }
}

/**
 * A caller passed something the library cannot accept (bad type, missing field, not JSON).
 * @public
 */
export class InvalidArgumentError extends RunnerError {
  /** Create an invalid-argument error. */
  constructor(message: string, options: { data?: Record<string, unknown>; cause?: unknown } = {}) {
    super('INVALID_ARGUMENT', message, options);
  }
}

/**
 * The object was used after `close()` / `stop()`.
 * @public
 */
export class ClosedError extends RunnerError {
  /** Create a closed error naming what was closed. */
  constructor(what: string) {
    super('CLOSED', `${what} is closed`, { data: { what } });
  }
}

/**
 * The outbox store failed to read or write (disk full, permission denied, corrupt file).
 * @public
 */
export class StoreError extends RunnerError {
  /** Create a store error. */
  constructor(
    message: string,
    options: { code?: 'STORE_FAILURE' | 'STORE_CORRUPT' | 'STORE_LOCKED'; data?: Record<string, unknown>; cause?: unknown } = {},
  ) {
    super(options.code ?? 'STORE_FAILURE', message, options);
  }
}

/**
 * The relay answered an HTTP request with a non-success status.
 * @remarks `status`, `retryAfterMs` and the server's one-line `serverMessage` are kept so the
 * outbox can decide between retry, recovery and permanent rejection.
 * @public
 */
export class RelayHttpError extends RunnerError {
  /** HTTP status code. */
  readonly status: number;
  /** Parsed `Retry-After`, in milliseconds, when the server sent one. */
  readonly retryAfterMs: number | undefined;
  /** The server's error message, if it sent one. */
  readonly serverMessage: string | undefined;

  /** Create an HTTP error from a response status. */
  constructor(
    status: number,
    message: string,
    options: { retryAfterMs?: number; serverMessage?: string; data?: Record<string, unknown>; cause?: unknown } = {},
  ) {
    super(status === 401 || status === 403 ? 'RELAY_AUTH' : 'RELAY_HTTP', message, {
      data: { status, ...options.data },
      cause: options.cause,
    });
    this.status = status;
    this.retryAfterMs = options.retryAfterMs;
    this.serverMessage = options.serverMessage;
  }
}

/**
 * The relay could not be reached at all (connection refused, reset, DNS) or did not answer in time.
 * @public
 */
export class RelayUnavailableError extends RunnerError {
  /** Create an unavailable error; `timedOut` distinguishes a hung relay from a refused one. */
  constructor(message: string, options: { timedOut?: boolean; data?: Record<string, unknown>; cause?: unknown } = {}) {
    super(options.timedOut ? 'RELAY_TIMEOUT' : 'RELAY_UNAVAILABLE', message, options);
  }
}

/**
 * The peer spoke a different protocol version or sent a frame this version cannot understand.
 * @public
 */
export class ProtocolError extends RunnerError {
  /** Create a protocol error. */
  constructor(message: string, options: { data?: Record<string, unknown>; cause?: unknown } = {}) {
    super('PROTOCOL', message, options);
  }
}

/**
 * A child process could not be started or controlled.
 * @public
 */
export class ProcessError extends RunnerError {
  /** Create a process error. */
  constructor(message: string, options: { data?: Record<string, unknown>; cause?: unknown } = {}) {
    super('PROCESS', message, options);
  }
}

/**
 * A provider (Claude Code, Codex, the demo provider) failed: missing, too old, or misbehaving.
 * @public
 */
export class ProviderError extends RunnerError {
  /** Create a provider error. */
  constructor(message: string, options: { data?: Record<string, unknown>; cause?: unknown } = {}) {
    super('PROVIDER', message, options);
  }
}

/**
 * True when `value` is a {@link RunnerError} (also across duplicated copies of this package).
 * @public
 */
export function isRunnerError(value: unknown): value is RunnerError {
  if (value instanceof RunnerError) return true;
  return (
    typeof value === 'object' &&
    value !== null &&
    value instanceof Error &&
    typeof (value as { code?: unknown }).code === 'string' &&
    typeof (value as { data?: unknown }).data === 'object'
  );
}
