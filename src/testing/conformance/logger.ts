import * as assert from 'node:assert/strict';
import type { Logger } from '../../ports/logger.js';
import { isRunnerError } from '../../errors/index.js';
import type { ConformanceTestApi } from './clock.js';

/**
 * What a {@link runLoggerConformance} factory returns.
 * @public
 */
export interface LoggerHarness {
  /** A fresh logger at level `info` (its default with no environment variables). */
  logger: Logger;
  /** Every line the logger has written so far, in the `[ISO time] LEVEL [component] message` format. */
  lines(): string[] | Promise<string[]>;
  /** Release the logger and anything the harness created (temp files). */
  dispose?(): Promise<void> | void;
}

const LINE = /^\[\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z\] (DEBUG|INFO|WARN|ERROR|FATAL) \[([^\]]*)\] (.*)$/;

/**
 * Conformance suite for {@link Logger}: level filtering, `setLevel`/`getLevel`, line format, newline
 * collapsing, and redaction when `addSecret` is implemented.
 * @public
 */
export function runLoggerConformance(
  name: string,
  factory: () => LoggerHarness | Promise<LoggerHarness>,
  api: ConformanceTestApi,
): void {
  const { describe, it } = api;

  const withLogger = (body: (h: LoggerHarness) => Promise<void>) => async () => {
    const harness = await factory();
    try {
      await body(harness);
    } finally {
      await harness.logger.close?.();
      await harness.dispose?.();
    }
  };

  const parsed = async (h: LoggerHarness) =>
    (await h.lines()).map((line) => {
      const m = LINE.exec(line);
      assert.ok(m, `line does not match the format: ${JSON.stringify(line)}`);
      return { level: m[1], component: m[2], message: m[3] };
    });

  describe(`Logger conformance: ${name}`, () => {
    it('starts at info and drops debug', withLogger(async (h) => {
      assert.equal(h.logger.getLevel(), 'info');
      h.logger.debug('test', 'hidden detail');
      h.logger.info('test', 'shown info');
      const lines = await parsed(h);
      assert.deepEqual(lines, [{ level: 'INFO', component: 'test', message: 'shown info' }]);
    }));

    it('writes every level at or above the minimum, with upper-case level names', withLogger(async (h) => {
      h.logger.setLevel('debug');
      h.logger.debug('a', 'd');
      h.logger.info('b', 'i');
      h.logger.warn('c', 'w');
      h.logger.error('d', 'e');
      h.logger.fatal('e', 'f');
      assert.deepEqual(
        (await parsed(h)).map((l) => `${l.level} ${l.component} ${l.message}`),
        ['DEBUG a d', 'INFO b i', 'WARN c w', 'ERROR d e', 'FATAL e f'],
      );
    }));

    it('setLevel changes filtering at runtime and getLevel reports it', withLogger(async (h) => {
      h.logger.setLevel('error');
      assert.equal(h.logger.getLevel(), 'error');
      h.logger.warn('x', 'dropped warn');
      h.logger.error('x', 'kept error');
      h.logger.setLevel('debug');
      assert.equal(h.logger.getLevel(), 'debug');
      h.logger.debug('x', 'kept debug');
      h.logger.setLevel('fatal');
      h.logger.error('x', 'dropped error');
      h.logger.fatal('x', 'kept fatal');
      assert.deepEqual((await parsed(h)).map((l) => l.message), ['kept error', 'kept debug', 'kept fatal']);
    }));

    it('setLevel with an invalid level throws a RunnerError naming the valid levels and keeps the old level', withLogger(async (h) => {
      assert.throws(
        () => h.logger.setLevel('verbose' as never),
        (error: unknown) => isRunnerError(error) && error.code === 'INVALID_ARGUMENT' && /debug.*info.*warn.*error.*fatal/.test(error.message),
      );
      assert.equal(h.logger.getLevel(), 'info');
    }));

    it('collapses newlines inside a message and strips ANSI escapes', withLogger(async (h) => {
      h.logger.warn('fmt', 'first\nsecond\r\nthird');
      h.logger.info('fmt', '\u001b[31mred\u001b[0m text');
      const lines = await h.lines();
      assert.equal(lines.length, 2);
      assert.match(lines[0] ?? '', / WARN \[fmt\] first ⏎ second ⏎ third$/);
      assert.match(lines[1] ?? '', / INFO \[fmt\] red text$/);
      assert.ok(lines.every((l) => !l.includes('\u001b')));
    }));

    it('redacts every occurrence of a registered secret in later lines', withLogger(async (h) => {
      if (!h.logger.addSecret) return; // optional capability
      h.logger.addSecret('tok-12345');
      h.logger.addSecret('tok-12345-longer');
      h.logger.info('auth', 'token tok-12345 and again tok-12345; long tok-12345-longer');
      h.logger.error('auth', 'multi\ntok-12345');
      const text = (await h.lines()).join('\n');
      assert.ok(!text.includes('tok-12345'), `secret leaked: ${text}`);
      assert.match(text, /token \[redacted\] and again \[redacted\]; long \[redacted\]/);
    }));
  });
}
