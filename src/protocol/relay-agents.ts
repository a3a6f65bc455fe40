/**
 * Relay protocol v1: agents, tokens, profiles and the error body (`docs/protocol.md` §1–3, §5 "Agents").
 */
import * as v from 'valibot';
import { FIELD_LIMITS as L, epochMs, jsonObject, nonEmpty, opt, str } from './relay-fields.js';

/**
 * Schema of {@link RelayErrorBody}.
 * @public
 */
export const RelayErrorBodySchema = v.object({
  /** Stable machine code (`unauthorized`, `token_expired`, `invalid_body`, …). */
  code: str(L.id),
  /** One-line human reason. */
  message: str(L.line),
});

/**
 * The error object every non-2xx response carries (`{ "error": { code, message } }`).
 * @public
 */
export type RelayErrorBody = v.InferOutput<typeof RelayErrorBodySchema>;

/**
 * Schema of {@link RelayErrorResponse}.
 * @public
 */
export const RelayErrorResponseSchema = v.object({
  /** The error. */
  error: RelayErrorBodySchema,
});

/**
 * Body of every non-2xx response.
 * @public
 */
export type RelayErrorResponse = v.InferOutput<typeof RelayErrorResponseSchema>;

/**
 * Schema of {@link AgentFeatures}.
 * @public
 */
export const AgentFeaturesSchema = v.object({
  /** Prepend the relay context block on the first turn of a session. */
  relayContext: v.boolean(),
  /** Post insight observations (the relay answers 409 when off). */
  insights: v.boolean(),
  /** Mirror the provider session to the relay. */
  sessionMirror: v.boolean(),
});

/**
 * Which relay features are on for an agent.
 * @public
 */
export type AgentFeatures = v.InferOutput<typeof AgentFeaturesSchema>;

/**
 * Schema of {@link AgentProfile}.
 * @public
 */
export const AgentProfileSchema = v.object({
  /** Model the provider should use. */
  model: opt(str(L.id)),
  /** Provider permission mode (e.g. `default`, `acceptEdits`, `plan`). */
  permissionMode: opt(str(L.label)),
  /** Tools the provider may use without asking. */
  allowedTools: opt(v.pipe(v.array(str(L.id)), v.maxLength(L.items))),
  /** Tools the provider must not use (refused without asking). */
  disallowedTools: opt(v.pipe(v.array(str(L.id)), v.maxLength(L.items))),
  /** Extra instructions appended to the provider's system prompt. */
  extraInstructions: opt(str(L.text)),
  /** Use the host's own provider configuration instead of an isolated config home. */
  useHostConfig: opt(v.boolean()),
  /** Feature switches. */
  features: AgentFeaturesSchema,
});

/**
 * Per-agent settings the relay hands out at registration (SPEC §7 "Agent profile").
 * @remarks Every field but `features` is optional: a relay that has no opinion leaves it out.
 * @public
 */
export type AgentProfile = v.InferOutput<typeof AgentProfileSchema>;

/**
 * Schema of {@link RelayAgent}.
 * @public
 */
export const RelayAgentSchema = v.object({
  /** Relay-assigned id, stable across re-registrations with the same name. */
  id: nonEmpty(L.id),
  /** Name the agent registered with (unique per workspace). */
  name: str(L.label),
  /** Provider name the runner reported (`claude`, `codex`, `demo`, …). */
  provider: opt(str(L.label)),
  /** Epoch ms of the first registration. */
  createdAt: epochMs,
  /** Epoch ms of the last heartbeat or registration. */
  lastSeenAt: epochMs,
});

/**
 * An agent as the relay knows it.
 * @public
 */
export type RelayAgent = v.InferOutput<typeof RelayAgentSchema>;

/**
 * Schema of {@link RegisterAgentInput} (`POST /v1/agents`).
 * @public
 */
export const RegisterAgentInputSchema = v.object({
  /** Agent name: 1–64 characters of `[A-Za-z0-9_.-]`. */
  name: v.pipe(v.string(), v.regex(/^[A-Za-z0-9_.-]{1,64}$/)),
  /** Provider name. */
  provider: opt(str(L.label)),
  /** Runner version, for the dashboard. */
  runnerVersion: opt(str(L.label)),
  /** Free-form metadata (plain JSON). */
  metadata: opt(jsonObject),
});

/**
 * What the runner tells the relay when registering.
 * @public
 */
export type RegisterAgentInput = v.InferOutput<typeof RegisterAgentInputSchema>;

/**
 * Schema of {@link TokenGrant} (the answer to `POST /v1/agents/:id/token`).
 * @public
 */
export const TokenGrantSchema = v.object({
  /** Bearer token for agent calls (`Authorization: Bearer <token>`). A secret: never log it. */
  token: nonEmpty(L.token),
  /** Epoch ms after which the relay answers 401 to it. */
  tokenExpiresAt: epochMs,
});

/**
 * A bearer token and its expiry.
 * @public
 */
export type TokenGrant = v.InferOutput<typeof TokenGrantSchema>;

/**
 * Schema of {@link RegisterAgentResult}.
 * @public
 */
export const RegisterAgentResultSchema = v.object({
  ...TokenGrantSchema.entries,
  /** The registered agent. */
  agent: RelayAgentSchema,
  /** Settings for this agent. */
  profile: AgentProfileSchema,
});

/**
 * The relay's answer to a registration.
 * @public
 */
export type RegisterAgentResult = v.InferOutput<typeof RegisterAgentResultSchema>;

/**
 * Schema of {@link EmptyBody}: the body of heartbeat and token renewal requests.
 * @public
 */
export const EmptyBodySchema = v.object({});

/**
 * `{}`: the body of `POST /v1/agents/:id/heartbeat` and `POST /v1/agents/:id/token`.
 * @public
 */
export type EmptyBody = v.InferOutput<typeof EmptyBodySchema>;

/**
 * Schema of {@link HeartbeatResult}.
 * @public
 */
export const HeartbeatResultSchema = v.object({
  /** Server time (epoch ms). */
  serverTime: epochMs,
});

/**
 * The relay's answer to a heartbeat.
 * @public
 */
export type HeartbeatResult = v.InferOutput<typeof HeartbeatResultSchema>;

/**
 * Schema of {@link DeleteAgentResult}.
 * @public
 */
export const DeleteAgentResultSchema = v.object({
  /** Always true. */
  deleted: v.literal(true),
});

/**
 * The relay's answer to `DELETE /v1/agents/:id`.
 * @public
 */
export type DeleteAgentResult = v.InferOutput<typeof DeleteAgentResultSchema>;
