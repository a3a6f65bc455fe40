/**
 * Claude Code hook payloads: one valibot schema per hook endpoint, turning the raw payload Claude
 * writes to a hook's stdin (snake_case, posted as is by `hooks/*.sh`) into a typed input, and the
 * exact JSON Claude reads back from a hook's stdout. Field names follow the hooks reference
 * summarised in `docs/hooks.md`. Unknown small fields are tolerated (Claude adds fields between
 * versions); a known field of the wrong type, or a hook event that belongs to another endpoint,
 * is a 400 with a one-line reason.
 */
import * as v from 'valibot';
import {
  bodyObject,
  clip,
  jsonObject,
  MAX_NAME_CHARS,
  MAX_PATH_CHARS,
  nonEmptyString,
  optionalBoolean,
  optionalString,
  optionalText,
  requiredString,
} from '../../control/body-schema.js';

/** Copy of `value` without its undefined (or null) members: handler inputs never carry empty keys. */
function defined<T extends Record<string, unknown>>(value: T): { [K in keyof T]?: Exclude<T[K], null | undefined> } {
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) if (item !== undefined && item !== null) out[key] = item;
  return out as { [K in keyof T]?: Exclude<T[K], null | undefined> };
}

/** `hook_event_name`, when present, must name one of `events` (a hook wired to the wrong endpoint is refused). */
function hookEventName(events: readonly string[]) {
  return v.nullish(
    v.pipe(
      requiredString(MAX_NAME_CHARS),
      v.check(
        (name) => events.includes(name),
        (issue) => `hook_event_name "${clip(String(issue.input), 60)}" does not belong to this endpoint`,
      ),
    ),
  );
}

/** A hook payload for `events`: the common fields every payload carries, plus `entries`. */
function hookPayload<const E extends v.ObjectEntries>(events: readonly string[], entries: E) {
  return bodyObject({
    hook_event_name: hookEventName(events),
    session_id: optionalString(MAX_NAME_CHARS),
    transcript_path: optionalString(MAX_PATH_CHARS),
    cwd: optionalString(MAX_PATH_CHARS),
    permission_mode: optionalString(MAX_NAME_CHARS),
    ...entries,
  });
}

/** The common fields, camelCased. */
function context(raw: { session_id?: string | null; transcript_path?: string | null; cwd?: string | null; permission_mode?: string | null }) {
  return defined({ sessionId: raw.session_id, transcriptPath: raw.transcript_path, cwd: raw.cwd, permissionMode: raw.permission_mode });
}

/** SessionStart (`source` defaults to `startup` when an old Claude omits it). */
export const sessionStartSchema = v.pipe(
  hookPayload(['SessionStart'], { source: optionalString(MAX_NAME_CHARS), model: optionalString(MAX_NAME_CHARS) }),
  v.transform((raw) => ({ ...context(raw), source: raw.source ?? 'startup', ...defined({ model: raw.model }) })),
);
/** SessionStart: a session began, resumed, was cleared or was compacted. */
export type SessionStartInput = v.InferOutput<typeof sessionStartSchema>;

/** UserPromptSubmit (`prompt` required). */
export const userPromptSchema = v.pipe(
  hookPayload(['UserPromptSubmit'], { prompt: requiredString() }),
  v.transform((raw) => ({ ...context(raw), prompt: raw.prompt })),
);
/** UserPromptSubmit: a prompt reached the model (relay-delivered or typed into the TUI). */
export type UserPromptInput = v.InferOutput<typeof userPromptSchema>;

/** Stop. */
export const stopSchema = v.pipe(
  hookPayload(['Stop'], { stop_hook_active: optionalBoolean(), last_assistant_message: optionalString() }),
  v.transform((raw) => ({
    ...context(raw),
    stopHookActive: raw.stop_hook_active ?? false,
    ...defined({ lastAssistantMessage: raw.last_assistant_message }),
  })),
);
/** Stop: the main agent finished a turn. `stopHookActive`: this stop follows a block (never block again). */
export type StopInput = v.InferOutput<typeof stopSchema>;

/** The Stop hook's exit fallback (the same Stop payload, reported as a turn end). */
export const sessionTurnSchema = v.pipe(
  hookPayload(['Stop'], { last_assistant_message: optionalString() }),
  v.transform((raw) => ({ ...context(raw), ...defined({ lastAssistantMessage: raw.last_assistant_message }) })),
);
/** The turn that just ended, and which path reported it: the Stop call itself, or the Stop hook's exit fallback. */
export type SessionTurnInput = v.InferOutput<typeof sessionTurnSchema> & { via: 'stop' | 'stop-exit' };

/** StopFailure (error fields tolerated in any JSON shape: Claude's error detail varies). */
export const stopFailureSchema = v.pipe(
  hookPayload(['StopFailure'], { error: optionalText(), error_details: optionalText(), last_assistant_message: optionalString() }),
  v.transform((raw) => ({
    ...context(raw),
    ...defined({ error: raw.error, errorDetails: raw.error_details, lastAssistantMessage: raw.last_assistant_message }),
  })),
);
/** StopFailure: the turn ended with an API error instead of a normal stop. */
export type StopFailureInput = v.InferOutput<typeof stopFailureSchema>;

/** SubagentStart / SubagentStop, for the given phase. */
export function subagentSchema(phase: 'start' | 'stop') {
  return v.pipe(
    hookPayload([phase === 'start' ? 'SubagentStart' : 'SubagentStop'], {
      agent_id: optionalString(MAX_NAME_CHARS),
      agent_type: optionalString(MAX_NAME_CHARS),
      last_assistant_message: optionalString(),
    }),
    v.transform((raw) => ({
      ...context(raw),
      phase,
      ...defined({ agentId: raw.agent_id, agentType: raw.agent_type, lastAssistantMessage: raw.last_assistant_message }),
    })),
  );
}
/** SubagentStart / SubagentStop. */
export type SubagentInput = v.InferOutput<ReturnType<typeof subagentSchema>>;

/** PreCompact / PostCompact, for the given phase. */
export function compactSchema(phase: 'pre' | 'post') {
  return v.pipe(
    hookPayload([phase === 'pre' ? 'PreCompact' : 'PostCompact'], {
      trigger: optionalString(MAX_NAME_CHARS),
      custom_instructions: optionalString(),
      compact_summary: optionalString(),
    }),
    v.transform((raw) => ({
      ...context(raw),
      phase,
      ...defined({ trigger: raw.trigger, customInstructions: raw.custom_instructions, compactSummary: raw.compact_summary }),
    })),
  );
}
/** PreCompact / PostCompact. */
export type CompactInput = v.InferOutput<ReturnType<typeof compactSchema>>;

/** SessionEnd. */
export const sessionEndSchema = v.pipe(
  hookPayload(['SessionEnd'], { reason: optionalString(MAX_NAME_CHARS) }),
  v.transform((raw) => ({ ...context(raw), ...defined({ reason: raw.reason }) })),
);
/** SessionEnd: the Claude Code session is ending (`reason`: `clear`, `logout`, `prompt_input_exit`, `other`, …). */
export type SessionEndInput = v.InferOutput<typeof sessionEndSchema>;

/** PermissionRequest (`tool_name` required, `tool_input` an object). */
export const permissionRequestSchema = v.pipe(
  hookPayload(['PermissionRequest'], { tool_name: nonEmptyString(MAX_NAME_CHARS), tool_input: v.optional(jsonObject()) }),
  v.transform((raw) => ({ ...context(raw), toolName: raw.tool_name, toolInput: raw.tool_input ?? {} })),
);
/** PermissionRequest: Claude is about to show its permission dialog. */
export type PermissionRequestInput = v.InferOutput<typeof permissionRequestSchema>;

/** The three tool hooks, by the phase each reports. */
const TOOL_HOOK_EVENTS = { pre: 'PreToolUse', post: 'PostToolUse', failure: 'PostToolUseFailure' } as const;

/**
 * PreToolUse / PostToolUse / PostToolUseFailure, for the given phase. `tool_response` (PostToolUse)
 * and `error` (PostToolUseFailure) are accepted in any JSON shape and kept as text: a tool's output
 * varies by tool and version.
 */
export function toolHookSchema(phase: keyof typeof TOOL_HOOK_EVENTS) {
  return v.pipe(
    hookPayload([TOOL_HOOK_EVENTS[phase]], {
      tool_name: nonEmptyString(MAX_NAME_CHARS),
      tool_input: v.nullish(v.unknown()),
      tool_use_id: optionalString(MAX_NAME_CHARS),
      tool_response: v.optional(optionalText()),
      error: v.optional(optionalText()),
      is_interrupt: optionalBoolean(),
    }),
    v.transform((raw) => ({
      ...context(raw),
      phase,
      toolName: raw.tool_name,
      toolInput: raw.tool_input ?? {},
      ...defined({ toolUseId: raw.tool_use_id, toolResponse: raw.tool_response, error: raw.error, isInterrupt: raw.is_interrupt }),
    })),
  );
}
/** A tool call about to run (`pre`), done (`post`) or failed (`failure`). */
export type ToolHookInput = v.InferOutput<ReturnType<typeof toolHookSchema>>;

/**
 * The answer to a permission request. `ask` means "no decision": Claude falls back to its own
 * dialog (the interactive timeout path).
 */
export type PermissionOutcome =
  | { behavior: 'allow'; updatedInput?: Record<string, unknown> }
  | { behavior: 'deny'; message: string; interrupt?: boolean }
  | { behavior: 'ask' };

/** Extra context a hook hands back to Claude (printed as `hookSpecificOutput.additionalContext`). */
export interface HookAdditionalContext {
  /** Text added to the model's context. */
  additionalContext: string;
}

/** Stop hook stdout that makes Claude continue the turn with `reason` as its next instruction. */
export function stopBlockOutput(reason: string): { decision: 'block'; reason: string } {
  return { decision: 'block', reason };
}

/** PermissionRequest hook stdout for an outcome; undefined for `ask` (Claude shows its own dialog). */
export function permissionOutput(outcome: PermissionOutcome): object | undefined {
  if (outcome.behavior === 'ask') return undefined;
  const decision: Record<string, unknown> = { behavior: outcome.behavior };
  if (outcome.behavior === 'allow' && outcome.updatedInput !== undefined) decision['updatedInput'] = outcome.updatedInput;
  if (outcome.behavior === 'deny') {
    decision['message'] = outcome.message;
    if (outcome.interrupt !== undefined) decision['interrupt'] = outcome.interrupt;
  }
  return { hookSpecificOutput: { hookEventName: 'PermissionRequest', decision } };
}

/** SessionStart / UserPromptSubmit stdout that adds context for the model. */
export function additionalContextOutput(hookEventName: 'SessionStart' | 'UserPromptSubmit', additionalContext: string): object {
  return { hookSpecificOutput: { hookEventName, additionalContext } };
}
