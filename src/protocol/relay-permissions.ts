/**
 * Relay protocol v1: permission requests and decisions (`docs/protocol.md` §5 "Permission requests").
 */
import * as v from 'valibot';
import { FIELD_LIMITS as L, epochMs, nonEmpty, opt, str } from './relay-fields.js';

/**
 * Schema of {@link PermissionBehavior}.
 * @public
 */
export const PermissionBehaviorSchema = v.picklist(['allow', 'deny']);

/**
 * A permission decision: allow or deny.
 * @public
 */
export type PermissionBehavior = v.InferOutput<typeof PermissionBehaviorSchema>;

/**
 * Schema of {@link RelayPermissionRequestInput} (`POST /v1/agents/:id/permissions`).
 * @public
 */
export const RelayPermissionRequestInputSchema = v.object({
  /** Runner-side request id (the provider's), echoed in the decision. */
  requestId: nonEmpty(L.id),
  /** Tool that wants to run. */
  tool: nonEmpty(L.id),
  /** One-line summary of the tool input. */
  summary: str(L.line),
  /** The tool input, possibly truncated (plain JSON). */
  input: v.optional(v.unknown()),
});

/**
 * A permission request the runner raises for the provider.
 * @public
 */
export type RelayPermissionRequestInput = v.InferOutput<typeof RelayPermissionRequestInputSchema>;

/**
 * Schema of {@link RelayPermissionDecision}.
 * @public
 */
export const RelayPermissionDecisionSchema = v.object({
  /** Allow or deny. */
  behavior: PermissionBehaviorSchema,
  /** Reason shown to the agent. */
  message: opt(str(L.line)),
  /** Who decided. */
  decidedBy: str(L.id),
  /** Epoch ms of the decision. */
  decidedAt: epochMs,
});

/**
 * A user's decision on a permission request, as stored on the relay.
 * @public
 */
export type RelayPermissionDecision = v.InferOutput<typeof RelayPermissionDecisionSchema>;

/**
 * Schema of {@link RelayPermissionRequest}.
 * @public
 */
export const RelayPermissionRequestSchema = v.object({
  /** Relay-assigned id (`perm_…`). */
  id: nonEmpty(L.id),
  /** Runner-side request id. */
  requestId: nonEmpty(L.id),
  /** Agent that asked. */
  agentId: nonEmpty(L.id),
  /** Tool name. */
  tool: str(L.id),
  /** Summary. */
  summary: str(L.line),
  /** `pending` until a user decides. */
  status: v.picklist(['pending', 'decided']),
  /** The decision, once made. */
  decision: opt(RelayPermissionDecisionSchema),
  /** Epoch ms created. */
  createdAt: epochMs,
});

/**
 * A permission request as stored on the relay.
 * @public
 */
export type RelayPermissionRequest = v.InferOutput<typeof RelayPermissionRequestSchema>;

/**
 * Schema of {@link RelayPermissionResponse}.
 * @public
 */
export const RelayPermissionResponseSchema = v.object({
  /** The request. */
  permission: RelayPermissionRequestSchema,
});

/**
 * The relay's answer to creating or reading a permission request.
 * @public
 */
export type RelayPermissionResponse = v.InferOutput<typeof RelayPermissionResponseSchema>;
