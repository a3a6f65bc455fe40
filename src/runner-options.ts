/**
 * The one check of {@link RunnerOptions}: a valibot schema of the plain fields (numbers finite and
 * in range, strings non-empty, the control port a TCP port number) and a shape check of each port
 * passed in (an object with the port's methods). A bad option is an `InvalidArgumentError` naming
 * the option, thrown by `createRunner` before anything is opened.
 */
import * as v from 'valibot';
import { InvalidArgumentError } from './errors/index.js';
import { FIELD_LIMITS } from './protocol/relay-fields.js';
import type { RunnerOptions } from './create-runner.js';

const NAME = /^[A-Za-z0-9_.-]{1,64}$/;

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null;

/** An object with these methods (what a port is, at run time). */
function withMethods(port: string, methods: readonly string[]) {
  const want = methods.join(', ');
  return v.custom<unknown>(
    (value) => isObject(value) && methods.every((m) => typeof value[m] === 'function'),
    `must be a ${port} (an object with ${want})`,
  );
}

const fn = (what: string) => v.custom<unknown>((value) => typeof value === 'function', `must be ${what}`);

/** A finite number of milliseconds, more than zero (a zero or NaN period would spin or never fire). */
const positiveMs = v.pipe(
  v.number('must be a number of milliseconds'),
  v.finite('must be a finite number of milliseconds'),
  v.minValue(1, 'must be at least 1 ms'),
);
const nonNegativeMs = v.pipe(
  v.number('must be a number of milliseconds'),
  v.finite('must be a finite number of milliseconds'),
  v.minValue(0, 'must not be negative'),
);
const positiveInt = v.pipe(v.number('must be an integer'), v.integer('must be an integer'), v.minValue(1, 'must be at least 1'));
const nonNegativeInt = v.pipe(v.number('must be an integer'), v.integer('must be an integer'), v.minValue(0, 'must not be negative'));
const text = v.pipe(v.string('must be a string'), v.nonEmpty('must not be empty'));
const path = v.pipe(text, v.check((s) => !s.includes('\0'), 'must not contain a NUL character'));

const httpUrl = v.pipe(
  v.string('must be a string'),
  v.check((s) => /^https?:\/\//.test(s) && URL.canParse(s), 'must be an http(s) URL'),
);

/** RunnerOptions as a schema: unknown keys are tolerated (hosts may spread a larger config object). */
const runnerOptionsSchema = v.looseObject({
  name: v.pipe(v.string('must be a string'), v.regex(NAME, 'must be 1–64 characters of A-Z a-z 0-9 _ . -')),
  provider: v.custom<unknown>(
    (value) => isObject(value) && typeof value['start'] === 'function' && typeof value['checkVersion'] === 'function' && typeof value['name'] === 'string',
    'must be a provider (e.g. createDemoProvider()): an object with name, checkVersion and start',
  ),
  relayUrl: v.optional(httpUrl),
  apiKey: v.optional(text),
  cwd: v.optional(path),
  dataDir: v.optional(path),
  logDir: v.optional(path),
  infoFile: v.optional(path),
  env: v.optional(
    v.custom<unknown>(
      (value) => isObject(value) && Object.values(value).every((x) => x === undefined || typeof x === 'string'),
      'must be an object of string values',
    ),
  ),
  initialPrompt: v.optional(v.string('must be a string')),
  control: v.optional(
    v.object(
      {
        // A string here would make node listen on a Unix socket of that name.
        port: v.optional(
          v.pipe(
            v.number('must be a TCP port number'),
            v.integer('must be an integer TCP port number'),
            v.minValue(0, 'must be 0–65535'),
            v.maxValue(65535, 'must be 0–65535'),
          ),
        ),
        token: v.optional(text),
      },
      'must be an object ({ port?, token? })',
    ),
  ),
  outbox: v.optional(
    v.object(
      {
        baseDelayMs: v.optional(nonNegativeMs),
        maxDelayMs: v.optional(nonNegativeMs),
        maxAttempts: v.optional(positiveInt),
        maxBytes: v.optional(positiveInt),
        batchMaxRows: v.optional(positiveInt),
        batchMaxBytes: v.optional(positiveInt),
        pollIntervalMs: v.optional(positiveMs),
      },
      'must be an object',
    ),
  ),
  exitPolicy: v.optional(
    v.object(
      {
        maxRapidExits: v.optional(positiveInt),
        windowMs: v.optional(nonNegativeMs),
        baseDelayMs: v.optional(nonNegativeMs),
        maxDelayMs: v.optional(nonNegativeMs),
        parkExitCodes: v.optional(v.array(v.pipe(v.number('must be exit codes'), v.integer('must be integer exit codes')), 'must be an array of exit codes')),
      },
      'must be an object',
    ),
  ),
  stalledAfterMs: v.optional(positiveMs),
  heartbeatMs: v.optional(positiveMs),
  permissionTimeoutMs: v.optional(positiveMs),
  obligationRefreshMs: v.optional(positiveMs),
  maxAttachmentBytes: v.optional(nonNegativeInt),
  clock: v.optional(withMethods('clock', ['now', 'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'])),
  logger: v.optional(withMethods('logger', ['debug', 'info', 'warn', 'error', 'fatal', 'getLevel', 'setLevel'])),
  store: v.optional(withMethods('outbox store', ['append', 'list', 'update', 'remove', 'counts'])),
  http: v.optional(
    withMethods('relay HTTP port', [
      'register',
      'heartbeat',
      'renewToken',
      'sendBatch',
      'pollUnread',
      'markRead',
      'obligations',
      'createPermissionRequest',
      'downloadAttachment',
    ]),
  ),
  bus: v.optional(fn('a function (agentId, token) => RelayBus')),
  spawner: v.optional(withMethods('process spawner', ['spawn'])),
  fetch: v.optional(fn('a fetch function')),
  onPermissionRequest: v.optional(fn('a function (request) => decision or "relay"')),
});

/** The dotted path of a valibot issue (`control.port`), or undefined at the root. */
function issuePath(issue: v.BaseIssue<unknown>): string | undefined {
  const keys = issue.path?.map((p) => String(p.key));
  return keys && keys.length > 0 ? keys.join('.') : undefined;
}

/**
 * Check every option of `createRunner`; throws an `InvalidArgumentError` naming the first bad one
 * (`data.option`), with all of them in `data.issues`.
 */
export function validateRunnerOptions(options: RunnerOptions): void {
  if (!isObject(options)) throw new InvalidArgumentError('createRunner needs an options object');
  const result = v.safeParse(runnerOptionsSchema, options);
  if (!result.success) {
    const issues = result.issues.map((issue) => {
      const at = issuePath(issue);
      return at === undefined ? issue.message : `option ${at} ${issue.message}`;
    });
    const option = issuePath(result.issues[0]);
    throw new InvalidArgumentError(`createRunner: ${issues[0]}${issues.length > 1 ? ` (and ${issues.length - 1} more)` : ''}`, {
      data: { ...(option ? { option } : {}), issues },
    });
  }
  if (!options.relayUrl && !(options.http && options.bus)) {
    throw new InvalidArgumentError('createRunner: runner needs relayUrl (or both http and bus ports)', { data: { option: 'relayUrl' } });
  }
  // The control token is the one credential the agent is given; it must not be the workspace key.
  if (options.control?.token !== undefined && options.control.token === options.apiKey) {
    throw new InvalidArgumentError('createRunner: option control.token must not be the workspace API key (the agent is given the control token)', {
      data: { option: 'control.token' },
    });
  }
}

const L = FIELD_LIMITS;

/** What `runner.send` accepts: the bounds are the relay's, so a message is refused here, not poisoned later. */
const sendInputSchema = v.object(
  {
    to: v.pipe(v.string('must be a string'), v.nonEmpty('must not be empty'), v.maxLength(L.id, `must be at most ${L.id} characters`)),
    body: v.pipe(v.string('must be a string'), v.maxLength(L.messageBody, `must be at most ${L.messageBody} characters`)),
    replyTo: v.optional(v.pipe(v.string('must be a string'), v.nonEmpty('must not be empty'), v.maxLength(L.id, `must be at most ${L.id} characters`))),
  },
  'must be an object ({ to, body, replyTo? })',
);

/** Check the input of `runner.send`; throws an `InvalidArgumentError` naming the bad field. */
export function validateSendInput(input: unknown): void {
  const result = v.safeParse(sendInputSchema, input);
  if (result.success) return;
  const issue = result.issues[0];
  const at = issuePath(issue);
  throw new InvalidArgumentError(`runner.send: ${at === undefined ? 'input' : `field ${at}`} ${issue.message}`, { data: at ? { field: at } : {} });
}
