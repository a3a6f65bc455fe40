/**
 * Log levels, from least to most severe.
 * @public
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'fatal';

/**
 * The valid {@link LogLevel} values, in order of severity.
 * @public
 */
export const LOG_LEVELS: readonly LogLevel[] = Object.freeze(['debug', 'info', 'warn', 'error', 'fatal']);

/**
 * Structured fields of one record, rendered after the message as ` key=value`. Values are
 * scalars; field names that hold credentials (`token`, `password`, …) are masked by the logger.
 * @public
 */
export type LogFields = Readonly<Record<string, string | number | boolean | null | undefined>>;

/**
 * Leveled, per-runner logging. Each runner owns its own logger: level and sink are never shared.
 * @remarks `component` names the subsystem (`outbox`, `bus`, `control`, …) and appears in every line.
 * Messages are single strings; implementations collapse newlines and redact registered secrets.
 * `fields` is optional everywhere, so a logger that ignores it still satisfies the port.
 * @public
 */
export interface Logger {
  /** Fine detail, off by default. */
  debug(component: string, message: string, fields?: LogFields): void;
  /** Normal operation worth a line. */
  info(component: string, message: string, fields?: LogFields): void;
  /** Something unexpected that the runner handled. */
  warn(component: string, message: string, fields?: LogFields): void;
  /** A failure that lost or delayed work. */
  error(component: string, message: string, fields?: LogFields): void;
  /** A failure that needs a human (data quarantined, event poisoned, hook crashed). */
  fatal(component: string, message: string, fields?: LogFields): void;
  /** Current minimum level. */
  getLevel(): LogLevel;
  /** Change the minimum level at runtime. */
  setLevel(level: LogLevel): void;
  /** Register a secret; it is replaced by `[redacted]` in every later line. */
  addSecret?(secret: string): void;
  /** Flush and release the sink. */
  close?(): Promise<void>;
}
