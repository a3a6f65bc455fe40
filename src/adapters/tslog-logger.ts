/**
 * The default {@link Logger} engine: tslog.
 *
 * What tslog does here, because it is good at it:
 * - levels: tslog's `minLevel` is the only level gate (`setLevel` moves it at runtime);
 * - transports: every sink is a tslog transport (the per-agent file; stderr for the stderr logger),
 *   and tslog dispatches each record to them;
 * - masking of secrets: registered secrets become tslog `mask.regex` entries (one per secret,
 *   longest first, placeholder `[redacted]`), applied to the component, the message and the values
 *   of structured fields; field *names* that always hold secrets (`token`, `password`, …) are
 *   masked by tslog's `mask.keys`, whatever their value;
 * - structured fields: an optional fields object rides the record as its own argument and is
 *   rendered as ` key=value` after the message.
 *
 * What stays ours, and why: the line format of SPEC §5 (`[ISO time] LEVEL [component] message`,
 * one line per record) is not one of tslog's output formats, so tslog runs `type: 'hidden'` and our
 * transport renders the masked record; escape and control characters are stripped *before* tslog
 * masks (an escape sequence spliced into a secret must not hide it from the mask) and line breaks are
 * collapsed after; the file sink (0600, opened once, synchronous appends, stderr fallback for error
 * and fatal while the file is unwritable) is plain `node:fs`, because a crash must not lose a line
 * already logged and tslog has no file transport of its own.
 */
import { closeSync, fchmodSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { Logger as TsLogger } from 'tslog';
import type { Clock } from '../ports/clock.js';
import { LOG_LEVELS, type LogFields, type Logger, type LogLevel } from '../ports/logger.js';
import { InvalidArgumentError } from '../errors/index.js';
import { createSystemClock } from './system-clock.js';
import { requireClock } from './require-clock.js';
import { describeError } from '../shared/describe-error.js';

/**
 * Options of {@link createFileLogger}.
 * @public
 */
export interface FileLoggerOptions {
  /** The agent this runner serves; names the log file (`session-mirror-<safe id>.log`). */
  agentId: string;
  /**
   * Directory of the log file, created owner-only (0700) when missing.
   * @defaultValue `~/.agent-relay/logs`
   */
  logDir?: string;
  /**
   * Initial level. When omitted it comes from `AGENT_RELAY_LOG_LEVEL` (or the legacy
   * `AGENT_RELAY_SESSION_DEBUG=1`), else `info`.
   */
  level?: LogLevel;
  /**
   * Environment read for the level variables. Pass one explicitly when embedding several runners
   * that should not follow the host's environment.
   * @defaultValue `process.env`
   */
  env?: Readonly<Record<string, string | undefined>>;
  /** Source of the timestamps in each line (`createSystemClock()` in production). */
  clock: Clock;
  /**
   * Where error and fatal records go when the file cannot be written.
   * @defaultValue writes the line plus a newline to `process.stderr`
   */
  stderr?: (line: string) => void;
  /** Secrets to redact from the first line on (more can be added with `addSecret`). */
  secrets?: readonly string[];
}

/**
 * A {@link Logger} writing to a file; `path` is where its lines go.
 * @public
 */
export interface FileLogger extends Logger {
  /** Absolute path of the log file. */
  readonly path: string;
  /** Register a secret; it is replaced by `[redacted]` in every later line. */
  addSecret(secret: string): void;
  /** Flush and close the file; later records are dropped. */
  close(): Promise<void>;
}

const LEVEL_IDS: Readonly<Record<LogLevel, number>> = { debug: 2, info: 3, warn: 4, error: 5, fatal: 6 };
const REDACTED = '[redacted]';
/** After a failed write, how long to keep error/fatal on stderr before trying the file again. */
const REOPEN_AFTER_MS = 5_000;

// CSI (`ESC [ … final`), OSC (`ESC ] … BEL|ESC \`), other two-byte escapes, and C1 CSI.
// eslint-disable-next-line no-control-regex
const ANSI_PATTERN = /\u001b\[[0-?]*[ -/]*[@-~]|\u001b\][^\u0007\u001b]*(?:\u0007|\u001b\\)?|\u001b[@-Z\\-_]|\u009b[0-?]*[ -/]*[@-~]/g;
// Remaining control characters except tab and line breaks (handled separately) would make the file
// ungreppable or let a message forge terminal output.
// eslint-disable-next-line no-control-regex
const CONTROL_PATTERN = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/g;
const NEWLINE_PATTERN = /\r\n|\r|\n|\u2028|\u2029/g;

/**
 * Turn an agent id into a safe file-name fragment: characters outside `[A-Za-z0-9_.-]` become `_`,
 * at most 180 characters.
 * @public
 */
export function safeFileName(id: string): string {
  return id.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 180);
}

/**
 * Parse a level name (case-insensitive, surrounding blanks ignored); undefined when it is not one.
 * @public
 */
export function parseLogLevel(value: string): LogLevel | undefined {
  const normalized = value.trim().toLowerCase();
  return (LOG_LEVELS as readonly string[]).includes(normalized) ? (normalized as LogLevel) : undefined;
}

/**
 * Like {@link parseLogLevel} but throws `InvalidArgumentError` listing the valid levels.
 * @public
 */
export function requireLogLevel(value: unknown): LogLevel {
  const level = typeof value === 'string' ? parseLogLevel(value) : undefined;
  if (level === undefined) {
    throw new InvalidArgumentError(`invalid log level ${JSON.stringify(value)}; valid levels: ${LOG_LEVELS.join(', ')}`, {
      data: { value: typeof value === 'string' ? value : String(value), valid: [...LOG_LEVELS] },
    });
  }
  return level;
}

/**
 * The initial level from the environment: `AGENT_RELAY_LOG_LEVEL`, else `debug` when the legacy
 * `AGENT_RELAY_SESSION_DEBUG=1`, else `info`. `invalid` carries a bad `AGENT_RELAY_LOG_LEVEL` value.
 * @public
 */
export function levelFromEnv(env: Readonly<Record<string, string | undefined>>): { level: LogLevel; invalid?: string } {
  const raw = env['AGENT_RELAY_LOG_LEVEL'];
  if (raw !== undefined && raw.trim() !== '') {
    const level = parseLogLevel(raw);
    return level === undefined ? { level: 'info', invalid: raw } : { level };
  }
  const legacy = env['AGENT_RELAY_SESSION_DEBUG']?.trim().toLowerCase();
  return { level: legacy === '1' || legacy === 'true' ? 'debug' : 'info' };
}

/**
 * Replace every occurrence of each secret with `[redacted]`; longer secrets first so a secret that
 * contains another is not half-revealed.
 */
function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) {
    if (out.includes(secret)) out = out.split(secret).join(REDACTED);
  }
  return out;
}

/**
 * Format one record exactly as it appears in a session-mirror file:
 * `[ISO time] LEVEL [component] message`, ANSI-free, newlines collapsed to ` ⏎ `, secrets redacted.
 * @remarks `secrets` should be sorted longest first (see {@link SecretList}).
 * @public
 */
export function formatLogLine(
  timeMs: number,
  level: LogLevel,
  component: string,
  message: string,
  secrets: readonly string[] = [],
): string {
  return `[${new Date(timeMs).toISOString()}] ${level.toUpperCase()} [${cleanText(component, secrets)}] ${cleanText(message, secrets)}`;
}

/**
 * Strip escapes first (an escape sequence spliced into a secret must not hide it), then redact,
 * then collapse line breaks so one record is always one line.
 */
function cleanText(text: string, secrets: readonly string[]): string {
  const plain = text.replace(ANSI_PATTERN, '').replace(CONTROL_PATTERN, '');
  return redact(plain, secrets).replace(NEWLINE_PATTERN, ' ⏎ ');
}

/**
 * Cleans a message the same way {@link formatLogLine} does (without the time/level/component prefix).
 * @public
 */
export function cleanLogText(text: string, secrets: readonly string[] = []): string {
  return cleanText(text, secrets);
}

/**
 * An ordered set of secrets, longest first, ignoring empty strings (which would redact everything).
 * @public
 */
export class SecretList {
  private items: string[] = [];
  /** The secrets, longest first. */
  get values(): readonly string[] {
    return this.items;
  }
  /** Add a secret; blank and duplicate values are ignored. */
  add(secret: string): void {
    if (typeof secret !== 'string') throw new InvalidArgumentError('secret must be a string');
    if (secret === '' || this.items.includes(secret)) return;
    this.items = [...this.items, secret].sort((a, b) => b.length - a.length);
  }
}

/**
 * Field names whose values tslog always masks: they hold credentials whatever their content.
 * Matched case-insensitively.
 */
const SECRET_FIELD_KEYS: readonly string[] = ['token', 'accessToken', 'controlToken', 'password', 'secret', 'authorization', 'apiKey', 'cookie'];

const escapeRegExp = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const stripEscapes = (text: string): string => text.replace(ANSI_PATTERN, '').replace(CONTROL_PATTERN, '');
const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Render structured fields as ` key=value …` (values with blanks, quotes or `=` are JSON-quoted).
 * The file logger hands in fields tslog has already masked; `mask` does the same masking for a
 * logger without tslog (the memory logger): secret field names and registered secret values.
 * @internal
 */
export function renderLogFields(fields: unknown, mask?: { secrets: readonly string[] }): string {
  if (!isPlainObject(fields)) return '';
  const secretKeys = new Set(SECRET_FIELD_KEYS.map((k) => k.toLowerCase()));
  let out = '';
  for (const [rawKey, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    const key = rawKey.replace(/[^A-Za-z0-9_.-]/g, '_') || '_';
    let text = typeof value === 'string' ? value : typeof value === 'object' && value !== null ? JSON.stringify(value) : String(value);
    if (mask) text = secretKeys.has(rawKey.toLowerCase()) ? REDACTED : cleanText(text, mask.secrets);
    else text = text.replace(NEWLINE_PATTERN, ' ⏎ ');
    out += ` ${key}=${text === '' || /[\s"=]/.test(text) ? JSON.stringify(text) : text}`;
  }
  return out;
}

/** A destination for rendered lines, attached to tslog as a transport. */
type Sink = (level: LogLevel, line: string) => void;

/**
 * A {@link Logger} over one tslog instance: tslog gates levels, masks secrets and dispatches to the
 * sinks; the sinks receive the finished SPEC §5 line.
 */
function createTslogLogger(options: { level: LogLevel; clock: Clock; secrets: SecretList; sinks: readonly Sink[] }) {
  const { clock, secrets } = options;
  let level = options.level;
  let closed = false;
  const engine = new TsLogger<Record<string, unknown>>({
    type: 'hidden',
    minLevel: LEVEL_IDS[level],
    argumentsArrayName: 'args',
    stack: { capture: 'off' },
    meta: { attachContext: false },
    mask: { keys: [...SECRET_FIELD_KEYS], caseInsensitive: true, placeholder: REDACTED, regex: [] },
  });
  // One regex per secret, longest first: tslog applies them in order, so a secret that contains
  // another is masked whole before the shorter one could reveal part of it.
  const syncMask = () => {
    engine.settings.mask.regex = secrets.values.map((secret) => new RegExp(escapeRegExp(secret), 'g'));
  };
  syncMask();
  for (const [n, sink] of options.sinks.entries()) {
    engine.attachTransport({
      name: `sink-${n}`,
      write(record) {
        const meta = record._logMeta as { logLevelName?: string } | undefined;
        const recordLevel = parseLogLevel(meta?.logLevelName ?? '') ?? 'info';
        const [component, message, fields] = (record['args'] as unknown[] | undefined) ?? [];
        const collapse = (value: unknown) => String(value).replace(NEWLINE_PATTERN, ' ⏎ ');
        const time = new Date(clock.now()).toISOString();
        sink(recordLevel, `[${time}] ${recordLevel.toUpperCase()} [${collapse(component)}] ${collapse(message)}${renderLogFields(fields)}`);
      },
    });
  }

  const emit = (recordLevel: LogLevel, component: string, message: string, fields?: LogFields) => {
    if (closed) return;
    // Escapes go before tslog masks, so one spliced into a secret cannot hide it from the mask.
    const args: unknown[] = [stripEscapes(String(component)), stripEscapes(String(message))];
    if (isPlainObject(fields)) {
      args.push(Object.fromEntries(Object.entries(fields).map(([k, v]) => [stripEscapes(k), typeof v === 'string' ? stripEscapes(v) : v])));
    }
    engine.log(LEVEL_IDS[recordLevel], recordLevel.toUpperCase(), ...args);
  };

  const logger = {
    debug: (component: string, message: string, fields?: LogFields) => emit('debug', component, message, fields),
    info: (component: string, message: string, fields?: LogFields) => emit('info', component, message, fields),
    warn: (component: string, message: string, fields?: LogFields) => emit('warn', component, message, fields),
    error: (component: string, message: string, fields?: LogFields) => emit('error', component, message, fields),
    fatal: (component: string, message: string, fields?: LogFields) => emit('fatal', component, message, fields),
    getLevel: () => level,
    setLevel(next: LogLevel) {
      level = requireLogLevel(next);
      engine.setMinLevel(LEVEL_IDS[level]);
    },
    addSecret(secret: string) {
      secrets.add(secret);
      syncMask();
    },
  } satisfies Logger;
  /** Flush tslog's transports; later records are dropped. */
  const stop = async () => {
    if (closed) return;
    await engine.flush();
    closed = true;
  };
  return { logger, stop };
}

/**
 * The default logger: a per-runner tslog instance whose transport appends one line per record to
 * `<logDir>/session-mirror-<safe agent id>.log`.
 * @remarks The file (0600) is opened on the first record and kept open; appends are synchronous so a
 * crash loses no line already logged. If the file cannot be written, error and fatal records go to
 * `stderr` and the file is retried every few seconds. Each call creates an independent logger: level,
 * secrets and file handle are never shared.
 * @public
 */
export function createFileLogger(options: FileLoggerOptions): FileLogger {
  if (typeof options?.agentId !== 'string' || options.agentId === '') {
    throw new InvalidArgumentError('createFileLogger: agentId must be a non-empty string');
  }
  // No default clock here: the composition root (createRunner) resolves it, once.
  requireClock(options?.clock, 'createFileLogger');
  const { clock } = options;
  const logDir = options.logDir ?? join(homedir(), '.agent-relay', 'logs');
  const path = join(logDir, `session-mirror-${safeFileName(options.agentId)}.log`);
  const stderr = options.stderr ?? ((line: string) => void process.stderr.write(`${line}\n`));
  const secrets = new SecretList();
  for (const secret of options.secrets ?? []) secrets.add(secret);

  const fromEnv = levelFromEnv(options.env ?? process.env);
  const level: LogLevel = options.level === undefined ? fromEnv.level : requireLogLevel(options.level);

  let fd: number | undefined;
  let closed = false;
  /** When the file last failed; while recent, error/fatal go to stderr without retrying the file. */
  let failedAt: number | undefined;

  const openFile = (): number => {
    mkdirSync(logDir, { recursive: true, mode: 0o700 });
    const opened = openSync(path, 'a', 0o600);
    try {
      // A pre-existing file may have been created with looser permissions.
      fchmodSync(opened, 0o600);
    } catch {
      // Not our file (e.g. shared dir); appending is still fine.
    }
    return opened;
  };

  const reportFailure = (error: unknown) => {
    const code = (error as { code?: unknown })?.code;
    const reason = typeof code === 'string' ? code : describeError(error);
    stderr(
      formatLogLine(clock.now(), 'error', 'logger', `cannot write ${path}: ${reason}; error and fatal records go to stderr`, secrets.values),
    );
  };

  const fileSink: Sink = (recordLevel, line) => {
    if (closed) return;
    const now = clock.now();
    if (fd === undefined && (failedAt === undefined || now - failedAt >= REOPEN_AFTER_MS)) {
      try {
        fd = openFile();
        failedAt = undefined;
      } catch (error) {
        if (failedAt === undefined) reportFailure(error);
        failedAt = now;
      }
    }
    if (fd !== undefined) {
      try {
        writeSync(fd, `${line}\n`);
        return;
      } catch (error) {
        if (failedAt === undefined) reportFailure(error);
        failedAt = now;
        try {
          closeSync(fd);
        } catch {
          // Already unusable; nothing more to release.
        }
        fd = undefined;
      }
    }
    if (LEVEL_IDS[recordLevel] >= LEVEL_IDS.error) stderr(line);
  };

  const { logger: base, stop } = createTslogLogger({ level, clock, secrets, sinks: [fileSink] });
  const logger: FileLogger = {
    ...base,
    path,
    async close() {
      if (closed) return;
      await stop();
      closed = true;
      if (fd !== undefined) {
        const toClose = fd;
        fd = undefined;
        closeSync(toClose);
      }
    },
  };

  if (fromEnv.invalid !== undefined && options.level === undefined) {
    logger.warn('logger', `invalid AGENT_RELAY_LOG_LEVEL ${JSON.stringify(fromEnv.invalid)}; using info (valid levels: ${LOG_LEVELS.join(', ')})`);
  }
  return logger;
}

/**
 * A logger that writes records at or above `level` (default `error`) to stderr, in the file
 * logger's line format. The fallback for adapters used without a logger, so that what must never
 * be silent (a quarantined outbox file) still reaches a human.
 * @internal
 */
export function createStderrLogger(options: { level?: LogLevel; clock: Clock; write?: (line: string) => void }): Logger {
  const write = options.write ?? ((line: string) => void process.stderr.write(`${line}\n`));
  return createTslogLogger({
    level: requireLogLevel(options.level ?? 'error'),
    clock: options.clock,
    secrets: new SecretList(),
    sinks: [(_level, line) => write(line)],
  }).logger;
}

/**
 * A logger that drops every record but still tracks its level (for hosts that log elsewhere).
 * @public
 */
export function createSilentLogger(level: LogLevel = 'info'): Logger {
  let current = requireLogLevel(level);
  const drop = (_component: string, _message: string): void => undefined;
  return {
    debug: drop,
    info: drop,
    warn: drop,
    error: drop,
    fatal: drop,
    getLevel: () => current,
    setLevel(next) {
      current = requireLogLevel(next);
    },
    addSecret: () => undefined,
    close: async () => undefined,
  };
}
