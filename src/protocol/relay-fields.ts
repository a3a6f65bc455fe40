/**
 * Building blocks of the relay protocol schemas: bounded strings, epoch times, plain-JSON
 * objects. Every string on the wire has a maximum length, so a huge value in a known field is
 * refused by the schema; unknown fields are bounded by the byte cap of their body or frame
 * (see `relay-codec.ts` and `docs/protocol.md`, "Limits").
 */
import * as v from 'valibot';

/** Field limits (characters, items) shared by the schemas and documented in `docs/protocol.md`. */
export const FIELD_LIMITS = {
  /** Relay ids (`agt_…`, `msg_…`), task ids, frame ids, names of people. */
  id: 200,
  /** Idempotency keys. */
  idempotencyKey: 512,
  /** A message body. */
  messageBody: 256 * 1024,
  /** Short labels: kinds, entries, providers, versions, error codes. */
  label: 64,
  /** One-line reasons and summaries. */
  line: 4000,
  /** Longer free text (hook failure reports, instructions). */
  text: 64 * 1024,
  /** Bearer tokens. */
  token: 1000,
  /** Items of an id list (mark read) or a batch. */
  items: 1000,
} as const;

/** A string of at most `max` characters. */
export const str = <const N extends number>(max: N) => v.pipe(v.string(), v.maxLength(max));

/** A non-empty string of at most `max` characters. */
export const nonEmpty = <const N extends number>(max: N) => v.pipe(v.string(), v.minLength(1), v.maxLength(max));

/** Epoch milliseconds: a finite, non-negative number. */
export const epochMs = v.pipe(v.number(), v.finite(), v.minValue(0));

/** A finite, non-negative number (counts, sizes, token usage). */
export const count = v.pipe(v.number(), v.finite(), v.minValue(0));

/** A plain JSON object (not an array, not null), values unchecked and kept as sent. */
export const jsonObject = v.custom<Record<string, unknown>>(
  (value) => typeof value === 'object' && value !== null && !Array.isArray(value),
  'must be a JSON object',
);

/**
 * An optional field; `null` counts as absent (the protocol examples send `"entry": null`), and
 * the output never carries the `null`.
 */
export const opt = <const S extends v.GenericSchema>(schema: S) =>
  v.optional(v.pipe(v.nullable(schema), v.transform((value) => value ?? undefined)));
