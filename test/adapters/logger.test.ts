import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createFileLogger, createSilentLogger, createStderrLogger, safeFileName } from '../../src/adapters/tslog-logger.js';
import { createMemoryLogger } from '../../src/testing/memory-logger.js';
import { createFakeClock } from '../../src/testing/fake-clock.js';
import { runLoggerConformance } from '../../src/testing/conformance/logger.js';
import { InvalidArgumentError } from '../../src/errors/index.js';
import { createSystemClock } from '../../src/adapters/system-clock.js';

const dirs: string[] = [];
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'arr-logger-'));
  dirs.push(dir);
  return dir;
};
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});
const readLines = (path: string) => (existsSync(path) ? readFileSync(path, 'utf8').split('\n').filter((l) => l !== '') : []);

runLoggerConformance(
  'file logger',
  () => {
    const dir = tempDir();
    const logger = createFileLogger({ clock: createSystemClock(), agentId: 'conformance', logDir: dir, env: {} });
    return { logger, lines: () => readLines(logger.path) };
  },
  { describe, it },
);

runLoggerConformance(
  'memory logger',
  () => {
    const logger = createMemoryLogger();
    return { logger, lines: () => logger.lines() };
  },
  { describe, it },
);

describe('createFileLogger', () => {
  it('writes the exact line format with time from the injected clock, to session-mirror-<safe id>.log', async () => {
    const dir = tempDir();
    const clock = createFakeClock(Date.UTC(2026, 0, 1));
    const logger = createFileLogger({ agentId: 'team/alice bot', logDir: dir, env: {}, clock });
    logger.info('outbox', 'delivered 3');
    clock.advance(1500);
    logger.error('bus', 'socket closed\nreconnecting');
    await logger.close();
    expect(logger.path).toBe(join(dir, 'session-mirror-team_alice_bot.log'));
    expect(readFileSync(logger.path, 'utf8')).toBe(
      '[2026-01-01T00:00:00.000Z] INFO [outbox] delivered 3\n' +
        '[2026-01-01T00:00:01.500Z] ERROR [bus] socket closed ⏎ reconnecting\n',
    );
  });

  it('creates the directory 0700 and the file 0600', async () => {
    const dir = join(tempDir(), 'nested', 'logs');
    const logger = createFileLogger({ clock: createSystemClock(), agentId: 'perm', logDir: dir, env: {} });
    logger.info('x', 'y');
    await logger.close();
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(logger.path).mode & 0o777).toBe(0o600);
  });

  it('tightens the permissions of a pre-existing log file', async () => {
    const dir = tempDir();
    const path = join(dir, 'session-mirror-old.log');
    writeFileSync(path, 'old line\n', { mode: 0o644 });
    const logger = createFileLogger({ clock: createSystemClock(), agentId: 'old', logDir: dir, env: {} });
    logger.warn('x', 'appended');
    await logger.close();
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readLines(path)).toHaveLength(2);
  });

  it('makes safe file names: other characters become _, at most 180', () => {
    expect(safeFileName('a/b\\c:d e*é.-_Z9')).toBe('a_b_c_d_e__.-_Z9');
    expect(safeFileName('x'.repeat(500))).toHaveLength(180);
  });

  it('takes the initial level from AGENT_RELAY_LOG_LEVEL, with the legacy debug alias', async () => {
    const dir = tempDir();
    const make = (env: Record<string, string>) => createFileLogger({ clock: createSystemClock(), agentId: 'lvl', logDir: dir, env });
    expect(make({}).getLevel()).toBe('info');
    expect(make({ AGENT_RELAY_LOG_LEVEL: 'warn' }).getLevel()).toBe('warn');
    expect(make({ AGENT_RELAY_LOG_LEVEL: 'ERROR' }).getLevel()).toBe('error');
    expect(make({ AGENT_RELAY_SESSION_DEBUG: '1' }).getLevel()).toBe('debug');
    expect(make({ AGENT_RELAY_SESSION_DEBUG: '1', AGENT_RELAY_LOG_LEVEL: 'warn' }).getLevel()).toBe('warn');
    expect(make({ AGENT_RELAY_SESSION_DEBUG: '0' }).getLevel()).toBe('info');
  });

  it('falls back to info with a warn line on an invalid AGENT_RELAY_LOG_LEVEL', async () => {
    const dir = tempDir();
    const logger = createFileLogger({ clock: createSystemClock(), agentId: 'bad', logDir: dir, env: { AGENT_RELAY_LOG_LEVEL: 'loud' } });
    expect(logger.getLevel()).toBe('info');
    await logger.close();
    const lines = readLines(logger.path);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/ WARN \[logger\] invalid AGENT_RELAY_LOG_LEVEL "loud"; using info \(valid levels: debug, info, warn, error, fatal\)$/);
  });

  it('rejects an invalid level option and a missing agent id', () => {
    expect(() => createFileLogger({ clock: createSystemClock(), agentId: 'x', logDir: tempDir(), level: 'loud' as never })).toThrow(InvalidArgumentError);
    expect(() => createFileLogger({ clock: createSystemClock(), agentId: '' })).toThrow(InvalidArgumentError);
  });

  it('two loggers in one process share neither level nor file', async () => {
    const dir = tempDir();
    const a = createFileLogger({ clock: createSystemClock(), agentId: 'alpha', logDir: dir, env: {} });
    const b = createFileLogger({ clock: createSystemClock(), agentId: 'beta', logDir: dir, env: {} });
    a.setLevel('debug');
    b.setLevel('error');
    a.addSecret('alpha-secret');
    expect(a.getLevel()).toBe('debug');
    expect(b.getLevel()).toBe('error');
    a.debug('a', 'alpha debug alpha-secret');
    b.debug('b', 'beta debug dropped');
    b.warn('b', 'beta warn dropped');
    b.error('b', 'beta error kept alpha-secret');
    await Promise.all([a.close(), b.close()]);
    expect(a.path).not.toBe(b.path);
    expect(readLines(a.path).map((l) => l.replace(/^\[[^\]]+\] /, ''))).toEqual(['DEBUG [a] alpha debug [redacted]']);
    // b was never told about a's secret.
    expect(readLines(b.path).map((l) => l.replace(/^\[[^\]]+\] /, ''))).toEqual(['ERROR [b] beta error kept alpha-secret']);
  });

  it('redacts secrets passed as an option from the first line, including inside the component', async () => {
    const dir = tempDir();
    const logger = createFileLogger({ clock: createSystemClock(), agentId: 's', logDir: dir, env: {}, secrets: ['hunter2', ''] });
    logger.info('hunter2', 'pw=hunter2hunter2');
    logger.info('x', 'empty secrets are ignored');
    await logger.close();
    const text = readFileSync(logger.path, 'utf8');
    expect(text).not.toContain('hunter2');
    expect(text).toContain('INFO [[redacted]] pw=[redacted][redacted]');
    expect(text).toContain('empty secrets are ignored');
  });

  it('redacts a secret registered later, whole even when a shorter secret is part of it', async () => {
    const dir = tempDir();
    const logger = createFileLogger({ clock: createSystemClock(), agentId: 'late', logDir: dir, env: {}, secrets: ['ab'] });
    logger.info('x', 'before abcd');
    logger.addSecret('bcd');
    logger.info('x', 'after abcd and xbcd');
    await logger.close();
    expect(readLines(logger.path).map((l) => l.replace(/^\[[^\]]+\] /, ''))).toEqual([
      'INFO [x] before [redacted]cd',
      'INFO [x] after a[redacted] and x[redacted]',
    ]);
  });

  it('appends structured fields as key=value, masking secret field names and secret values', async () => {
    const dir = tempDir();
    const logger = createFileLogger({ clock: createSystemClock(), agentId: 'fields', logDir: dir, env: {}, secrets: ['hunter2'] });
    logger.info('outbox', 'retry', { seq: 7, ok: false, reason: 'relay said "no"', empty: '', skip: undefined, none: null });
    logger.warn('relay', 'auth', { Token: 'abc123', note: 'pw hunter2\nnext', 'we ird': 'x\u001b[31my' });
    logger.info('plain', 'no fields');
    await logger.close();
    const text = readFileSync(logger.path, 'utf8');
    expect(text).not.toContain('abc123');
    expect(text).not.toContain('hunter2');
    expect(readLines(logger.path).map((l) => l.replace(/^\[[^\]]+\] /, ''))).toEqual([
      'INFO [outbox] retry seq=7 ok=false reason="relay said \\"no\\"" empty="" none=null',
      'WARN [relay] auth Token=[redacted] note="pw [redacted] ⏎ next" we_ird=xy',
      'INFO [plain] no fields',
    ]);
  });

  it('strips escape sequences and control characters', async () => {
    const dir = tempDir();
    const logger = createFileLogger({ clock: createSystemClock(), agentId: 'ansi', logDir: dir, env: {} });
    logger.info('tty', '\u001b[1;32mgreen\u001b[0m \u001b]0;title\u0007bell\u0000nul');
    await logger.close();
    expect(readLines(logger.path)[0]).toMatch(/ INFO \[tty\] green bellnul$/);
  });

  it('sends error and fatal records to stderr when the file cannot be written', async () => {
    const base = tempDir();
    const blocker = join(base, 'not-a-dir');
    writeFileSync(blocker, '');
    const stderr: string[] = [];
    const logger = createFileLogger({ clock: createSystemClock(), agentId: 'nofile', logDir: join(blocker, 'logs'), env: {}, stderr: (l) => stderr.push(l), secrets: ['tok'] });
    logger.info('x', 'info is dropped');
    logger.error('x', 'error survives tok');
    logger.fatal('x', 'fatal survives');
    await logger.close();
    expect(stderr).toHaveLength(3);
    expect(stderr[0]).toMatch(/ ERROR \[logger\] cannot write .*session-mirror-nofile\.log: ENOTDIR; error and fatal records go to stderr$/);
    expect(stderr[1]).toMatch(/ ERROR \[x\] error survives \[redacted\]$/);
    expect(stderr[2]).toMatch(/ FATAL \[x\] fatal survives$/);
  });

  it('retries the file after a while once it becomes writable', async () => {
    const base = tempDir();
    const blocker = join(base, 'later');
    writeFileSync(blocker, '');
    const clock = createFakeClock();
    const stderr: string[] = [];
    const logger = createFileLogger({ agentId: 'retry', logDir: blocker, env: {}, clock, stderr: (l) => stderr.push(l) });
    logger.error('x', 'first');
    rmSync(blocker);
    logger.error('x', 'second, still on stderr (retry is throttled)');
    clock.advance(10_000);
    logger.error('x', 'third, in the file');
    await logger.close();
    expect(stderr.map((l) => l.replace(/^\[[^\]]+\] /, ''))).toEqual([
      expect.stringMatching(/^ERROR \[logger\] cannot write/),
      'ERROR [x] first',
      'ERROR [x] second, still on stderr (retry is throttled)',
    ]);
    expect(readLines(logger.path).map((l) => l.replace(/^\[[^\]]+\] /, ''))).toEqual(['ERROR [x] third, in the file']);
  });

  it('keeps one open file: lines written before close are on disk immediately, nothing after close', async () => {
    const dir = tempDir();
    const logger = createFileLogger({ clock: createSystemClock(), agentId: 'sync', logDir: dir, env: {} });
    logger.info('x', 'one');
    expect(readLines(logger.path)).toHaveLength(1);
    logger.info('x', 'two');
    expect(readLines(logger.path)).toHaveLength(2);
    await logger.close();
    await logger.close();
    logger.error('x', 'after close');
    expect(readLines(logger.path)).toHaveLength(2);
  });

  it('setLevel rejects invalid values with the valid levels listed', () => {
    const logger = createFileLogger({ clock: createSystemClock(), agentId: 'x', logDir: tempDir(), env: {} });
    expect(() => logger.setLevel('trace' as never)).toThrow(/valid levels: debug, info, warn, error, fatal/);
    expect(logger.getLevel()).toBe('info');
  });
});

describe('createSilentLogger', () => {
  it('drops everything but keeps a level', () => {
    const logger = createSilentLogger();
    logger.fatal('x', 'nothing');
    expect(logger.getLevel()).toBe('info');
    logger.setLevel('debug');
    expect(logger.getLevel()).toBe('debug');
    expect(() => logger.setLevel('nope' as never)).toThrow(InvalidArgumentError);
  });
});

describe('createStderrLogger', () => {
  it('writes error and fatal in the file line format, drops the rest', () => {
    const lines: string[] = [];
    const logger = createStderrLogger({ clock: createFakeClock(Date.UTC(2026, 0, 1)), write: (l) => lines.push(l) });
    logger.warn('outbox', 'dropped');
    logger.error('outbox', 'checkpoint failed\nretrying');
    logger.fatal('outbox', 'quarantined', { rows: 3 });
    expect(logger.getLevel()).toBe('error');
    expect(lines).toEqual([
      '[2026-01-01T00:00:00.000Z] ERROR [outbox] checkpoint failed ⏎ retrying',
      '[2026-01-01T00:00:00.000Z] FATAL [outbox] quarantined rows=3',
    ]);
  });
});

describe('createMemoryLogger', () => {
  it('records entries, formats lines, filters by level, redacts, and clears', () => {
    const clock = createFakeClock(Date.UTC(2026, 0, 1));
    const logger = createMemoryLogger({ clock, secrets: ['s3cret'] });
    logger.debug('a', 'dropped');
    logger.info('outbox', 'delivered 3');
    clock.advance(1000);
    logger.warn('b', 'key s3cret\nnext');
    expect(logger.entries).toEqual([
      { level: 'info', component: 'outbox', message: 'delivered 3' },
      { level: 'warn', component: 'b', message: 'key [redacted] ⏎ next' },
    ]);
    expect(logger.lines()).toEqual([
      '[2026-01-01T00:00:00.000Z] INFO [outbox] delivered 3',
      '[2026-01-01T00:00:01.000Z] WARN [b] key [redacted] ⏎ next',
    ]);
    logger.info('c', 'with fields', { token: 'abc', n: 1, note: 'has s3cret' });
    expect(logger.entries.at(-1)).toEqual({ level: 'info', component: 'c', message: 'with fields token=[redacted] n=1 note="has [redacted]"' });
    logger.clear();
    expect(logger.lines()).toEqual([]);
    logger.setLevel('debug');
    logger.debug('a', 'kept');
    expect(logger.entries).toHaveLength(1);
  });
});
