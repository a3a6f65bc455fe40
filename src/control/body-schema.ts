/**
 * Building blocks for control-port body schemas (valibot), shared by the runner's own routes and
 * the providers' hook routes, and the one-line rendering of what a schema rejected.
 *
 * @remarks Messages are written to follow a field name (`field "to" must be a string`), so the
 * server prefixes them with the field's path; a message that is a sentence of its own (it does not
 * start with `must` or `is`) is sent as is. Unknown fields are tolerated, because Claude Code adds
 * fields between versions, but only while small: a body that smuggles a huge unknown field is
 * refused rather than carried around.
 */
import * as v from 'valibot';
import type { ControlBodyIssue, ControlRoute } from '../ports/control.js';

/** Largest unknown field accepted in a body, in bytes of JSON. */
export const MAX_UNKNOWN_FIELD_BYTES = 64 * 1024;
/** Longest identifier-like string field (ids, names, kinds). */
export const MAX_NAME_CHARS = 1024;
/** Longest path-like string field. */
export const MAX_PATH_CHARS = 8192;

type JsonObject = Record<string, unknown>;

const isJsonObject = (value: unknown): value is JsonObject => typeof value === 'object' && value !== null && !Array.isArray(value);

/** A required string; `max` bounds its length. */
export function requiredString(max?: number) {
  return v.pipe(v.string('must be a string'), v.maxLength(max ?? Number.MAX_SAFE_INTEGER, `must be at most ${max ?? 0} characters`));
}

/** A required, non-empty string; `max` bounds its length. */
export function nonEmptyString(max?: number) {
  return v.pipe(requiredString(max), v.nonEmpty('must not be empty'));
}

/** An optional string (`null` counts as absent, as Claude Code sometimes sends it). */
export function optionalString(max?: number) {
  return v.nullish(requiredString(max));
}

/** An optional boolean (`null` counts as absent). */
export function optionalBoolean() {
  return v.nullish(v.boolean('must be a boolean'));
}

/** A required integer. */
export function requiredInteger() {
  return v.pipe(v.number('must be an integer'), v.integer('must be an integer'));
}

/** Any JSON object (not an array, not null). */
export function jsonObject() {
  return v.custom<JsonObject>(isJsonObject, 'must be a JSON object');
}

/** An optional field of any JSON shape, returned as text (JSON for non-strings); `null` is absent. */
export function optionalText() {
  return v.pipe(
    v.unknown(),
    v.transform((value): string | undefined => (value === undefined || value === null ? undefined : typeof value === 'string' ? value : JSON.stringify(value))),
  );
}

/** JSON size of a value in bytes (UTF-8), for the unknown-field bound. */
function jsonBytes(value: unknown): number {
  try {
    return Buffer.byteLength(JSON.stringify(value) ?? '', 'utf8');
  } catch {
    return Number.POSITIVE_INFINITY;
  }
}

/** The first unknown field larger than the bound, if any. */
function oversizedUnknown(body: JsonObject, known: ReadonlySet<string>): string | undefined {
  for (const [key, value] of Object.entries(body)) {
    if (!known.has(key) && jsonBytes(value) > MAX_UNKNOWN_FIELD_BYTES) return key;
  }
  return undefined;
}

/**
 * A JSON-object body with the given known fields; unknown fields are kept out of the output and
 * tolerated while each stays under {@link MAX_UNKNOWN_FIELD_BYTES}.
 */
export function bodyObject<const E extends v.ObjectEntries>(entries: E) {
  const known = new Set(Object.keys(entries));
  return v.pipe(
    v.custom<JsonObject>(isJsonObject, 'must be a JSON object'),
    v.rawCheck(({ dataset, addIssue }) => {
      if (!dataset.typed) return;
      const key = oversizedUnknown(dataset.value, known);
      if (key !== undefined) {
        addIssue({ message: `unknown field "${clip(key, 60)}" is larger than ${MAX_UNKNOWN_FIELD_BYTES} bytes` });
      }
    }),
    v.object(entries, (issue) => (issue.received === 'undefined' ? 'is required' : 'must be a JSON object')),
  );
}

/** Text cut to `max` characters on one line, for error reasons. */
export function clip(text: string, max = 300): string {
  const line = text.replace(/[\r\n]+/g, ' ').trim();
  return line.length > max ? `${line.slice(0, max)}…` : line;
}

/** The path of an issue as `a.b.0`, or `''` at the root. */
function issuePath(issue: ControlBodyIssue): string {
  return (issue.path ?? []).map((segment) => String(typeof segment === 'object' && segment !== null ? segment.key : segment)).join('.');
}

/**
 * One line naming what is wrong with a body, from the first issue a schema reported:
 * `field "to" must be a string`, `body must be a JSON object`, or the issue's own sentence.
 */
export function describeBodyIssues(issues: ReadonlyArray<ControlBodyIssue>): string {
  const issue = issues[0];
  if (!issue) return 'invalid body';
  const path = issuePath(issue);
  const message = clip(issue.message, 200);
  if (!/^(must|is) /.test(message)) return message;
  return path ? `field "${clip(path, 80)}" ${message}` : `body ${message}`;
}

/** Define a route, with its body type inferred from its schema. */
export const defineRoute = <B>(route: ControlRoute<B>): ControlRoute<B> => route;
