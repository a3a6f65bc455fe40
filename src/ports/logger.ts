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
 * Leveled, per-runner logging. Each runner owns its own logger: level and sink are never shared.
 * @remarks `component` names the subsystem (`outbox`, `bus`, `control`, …) and appears in every line.
 * Messages are single strings; implementations collapse newlines and redact registered secrets.
 * @public
 */
export interface Logger {
  /** Fine detail, off by default. */
  debug(component: string, message: string): void;
  /** Normal operation worth a line. */
  info(component: string, message: string): void;
  /** Something unexpected that the runner handled. */
  warn(component: string, message: string): void;
  /** A failure that lost or delayed work. */
  error(component: string, message: string): void;
  /** A failure that needs a human (data quarantined, event poisoned, hook crashed). */
  fatal(component: string, message: string): void;
  /** Current minimum level. */
  getLevel(): LogLevel;
  /** Change the minimum level at runtime. */
  setLevel(level: LogLevel): void;
  /** Register a secret; it is replaced by `[redacted]` in every later line. */
  addSecret?(secret: string): void;
  /** Flush and release the sink. */
  close?(): Promise<void>;
}
