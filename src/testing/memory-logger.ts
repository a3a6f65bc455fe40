import type { Clock } from '../ports/clock.js';
import type { LogFields, Logger, LogLevel } from '../ports/logger.js';
import { cleanLogText, formatLogLine, renderLogFields, requireLogLevel, SecretList } from '../adapters/tslog-logger.js';
import { createFakeClock } from './fake-clock.js';

/**
 * One record kept by {@link createMemoryLogger} (message already cleaned and redacted).
 * @public
 */
export interface MemoryLogEntry {
  /** Level the record was logged at. */
  level: LogLevel;
  /** Subsystem that logged it. */
  component: string;
  /** The message, ANSI-free, newlines collapsed, secrets redacted; structured fields appended as ` key=value`. */
  message: string;
}

/**
 * Options of {@link createMemoryLogger}.
 * @public
 */
export interface MemoryLoggerOptions {
  /**
   * Initial minimum level.
   * @defaultValue `'info'`, like the file logger with no environment variables
   */
  level?: LogLevel;
  /**
   * Source of the timestamps in {@link MemoryLogger.lines}.
   * @defaultValue a fake clock at 2026-01-01T00:00:00Z, so lines are stable in tests
   */
  clock?: Clock;
  /** Secrets to redact from the start. */
  secrets?: readonly string[];
}

/**
 * A {@link Logger} that keeps records in memory, for tests.
 * @public
 */
export interface MemoryLogger extends Logger {
  /** Records at or above the level in force when they were logged, oldest first. */
  readonly entries: readonly MemoryLogEntry[];
  /** The records formatted exactly as the file logger writes them (`[ISO time] LEVEL [component] message`). */
  lines(): string[];
  /** Forget every record (level and secrets are kept). */
  clear(): void;
  /** Register a secret; it is replaced by `[redacted]` in every later record. */
  addSecret(secret: string): void;
  /** No-op kept for parity with the file logger; records stay readable after close. */
  close(): Promise<void>;
}

const ORDER: Readonly<Record<LogLevel, number>> = { debug: 0, info: 1, warn: 2, error: 3, fatal: 4 };

/**
 * Create an in-memory logger with the same level filtering, cleaning and redaction as the file logger.
 * @public
 */
export function createMemoryLogger(options: MemoryLoggerOptions = {}): MemoryLogger {
  const clock = options.clock ?? createFakeClock();
  const secrets = new SecretList();
  for (const secret of options.secrets ?? []) secrets.add(secret);
  let level = requireLogLevel(options.level ?? 'info');
  const entries: MemoryLogEntry[] = [];
  const times: number[] = [];

  const record = (recordLevel: LogLevel, component: string, message: string, fields?: LogFields) => {
    if (ORDER[recordLevel] < ORDER[level]) return;
    entries.push({
      level: recordLevel,
      component: cleanLogText(String(component), secrets.values),
      message: cleanLogText(String(message), secrets.values) + renderLogFields(fields, { secrets: secrets.values }),
    });
    times.push(clock.now());
  };

  return {
    entries,
    debug: (component, message, fields) => record('debug', component, message, fields),
    info: (component, message, fields) => record('info', component, message, fields),
    warn: (component, message, fields) => record('warn', component, message, fields),
    error: (component, message, fields) => record('error', component, message, fields),
    fatal: (component, message, fields) => record('fatal', component, message, fields),
    getLevel: () => level,
    setLevel(next) {
      level = requireLogLevel(next);
    },
    addSecret: (secret) => secrets.add(secret),
    // Entries are already cleaned, so formatting them again changes nothing but adds the prefix.
    lines: () => entries.map((e, i) => formatLogLine(times[i] ?? 0, e.level, e.component, e.message)),
    clear() {
      entries.length = 0;
      times.length = 0;
    },
    close: async () => undefined,
  };
}
