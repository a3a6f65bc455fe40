/**
 * Claude Code hook payloads → typed handler inputs, and handler answers → the exact JSON Claude
 * Code reads from a hook's stdout. The field names follow the hooks reference summarised in
 * `docs/hooks.md`. Unknown fields are ignored; a known field with the wrong type is a 400.
 */
import type {
  CompactInput,
  HookContext,
  HookFatalReport,
  PermissionOutcome,
  PermissionRequestInput,
  SendRequest,
  SessionEndInput,
  SessionStartInput,
  SessionTurnInput,
  StopFailureInput,
  StopInput,
  SubagentInput,
  UserPromptInput,
} from './handlers.js';
import { asObject, optBoolean, optString, optText, reqInteger, reqString, type JsonObject } from './validate.js';

/** The common fields of every hook payload. */
export function parseHookContext(body: JsonObject): HookContext {
  const context: HookContext = {};
  const sessionId = optString(body, 'session_id');
  const transcriptPath = optString(body, 'transcript_path');
  const cwd = optString(body, 'cwd');
  const permissionMode = optString(body, 'permission_mode');
  if (sessionId !== undefined) context.sessionId = sessionId;
  if (transcriptPath !== undefined) context.transcriptPath = transcriptPath;
  if (cwd !== undefined) context.cwd = cwd;
  if (permissionMode !== undefined) context.permissionMode = permissionMode;
  return context;
}

/** Copy the defined values of `extra` onto `base` (keeps `undefined` keys out of handler inputs). */
function withDefined<T extends object>(base: T, extra: Record<string, unknown>): T {
  for (const [key, value] of Object.entries(extra)) if (value !== undefined) (base as Record<string, unknown>)[key] = value;
  return base;
}

/** SessionStart payload (`source` defaults to `startup` when an old Claude omits it). */
export function parseSessionStart(body: JsonObject): SessionStartInput {
  return withDefined({ ...parseHookContext(body), source: optString(body, 'source') ?? 'startup' }, { model: optString(body, 'model') });
}

/** UserPromptSubmit payload. */
export function parseUserPrompt(body: JsonObject): UserPromptInput {
  return { ...parseHookContext(body), prompt: reqString(body, 'prompt') };
}

/** Stop payload. */
export function parseStop(body: JsonObject): StopInput {
  return withDefined(
    { ...parseHookContext(body), stopHookActive: optBoolean(body, 'stop_hook_active') ?? false },
    { lastAssistantMessage: optString(body, 'last_assistant_message') },
  );
}

/** The Stop hook's exit-fallback payload (the same Stop payload, reported as a turn end). */
export function parseSessionTurn(body: JsonObject, via: SessionTurnInput['via']): SessionTurnInput {
  return withDefined({ ...parseHookContext(body), via }, { lastAssistantMessage: optString(body, 'last_assistant_message') });
}

/** StopFailure payload (fields tolerated in any JSON shape: Claude's error detail varies). */
export function parseStopFailure(body: JsonObject): StopFailureInput {
  return withDefined(parseHookContext(body) as StopFailureInput, {
    error: optText(body, 'error'),
    errorDetails: optText(body, 'error_details'),
    lastAssistantMessage: optString(body, 'last_assistant_message'),
  });
}

/** SubagentStart / SubagentStop payload. */
export function parseSubagent(body: JsonObject, phase: SubagentInput['phase']): SubagentInput {
  return withDefined({ ...parseHookContext(body), phase } as SubagentInput, {
    agentId: optString(body, 'agent_id'),
    agentType: optString(body, 'agent_type'),
    lastAssistantMessage: optString(body, 'last_assistant_message'),
  });
}

/** PreCompact / PostCompact payload. */
export function parseCompact(body: JsonObject, phase: CompactInput['phase']): CompactInput {
  return withDefined({ ...parseHookContext(body), phase } as CompactInput, {
    trigger: optString(body, 'trigger'),
    customInstructions: optString(body, 'custom_instructions'),
    compactSummary: optString(body, 'compact_summary'),
  });
}

/** SessionEnd payload. */
export function parseSessionEnd(body: JsonObject): SessionEndInput {
  return withDefined(parseHookContext(body) as SessionEndInput, { reason: optString(body, 'reason') });
}

/** PermissionRequest payload (`tool_input` must be an object). */
export function parsePermissionRequest(body: JsonObject): PermissionRequestInput {
  const toolInput = body['tool_input'] === undefined ? {} : asObject(body['tool_input'], 'field "tool_input"');
  return { ...parseHookContext(body), toolName: reqString(body, 'tool_name', { nonEmpty: true }), toolInput };
}

/** The hook library's fatal report (built by `hooks/lib.sh`, not by Claude). */
export function parseHookFatal(body: JsonObject): HookFatalReport {
  return {
    hook: reqString(body, 'hook', { nonEmpty: true }),
    line: reqInteger(body, 'line'),
    exitCode: reqInteger(body, 'exitCode'),
    command: reqString(body, 'command'),
  };
}

/** `POST /send` body. */
export function parseSendRequest(body: JsonObject): SendRequest {
  return withDefined(
    { to: reqString(body, 'to', { nonEmpty: true }), body: reqString(body, 'body') } as SendRequest,
    { replyTo: optString(body, 'replyTo'), kind: optString(body, 'kind') },
  );
}

/** Stop hook stdout that makes Claude continue the turn with `reason` as its next instruction. */
export function stopBlockOutput(reason: string): string {
  return JSON.stringify({ decision: 'block', reason });
}

/** PermissionRequest hook stdout for an outcome; empty for `ask` (Claude shows its own dialog). */
export function permissionOutput(outcome: PermissionOutcome): string {
  if (outcome.behavior === 'ask') return '';
  const decision: Record<string, unknown> = { behavior: outcome.behavior };
  if (outcome.behavior === 'allow' && outcome.updatedInput !== undefined) decision['updatedInput'] = outcome.updatedInput;
  if (outcome.behavior === 'deny') {
    decision['message'] = outcome.message;
    if (outcome.interrupt !== undefined) decision['interrupt'] = outcome.interrupt;
  }
  return JSON.stringify({ hookSpecificOutput: { hookEventName: 'PermissionRequest', decision } });
}

/** SessionStart / UserPromptSubmit stdout that adds context for the model. */
export function additionalContextOutput(hookEventName: 'SessionStart' | 'UserPromptSubmit', additionalContext: string): string {
  return JSON.stringify({ hookSpecificOutput: { hookEventName, additionalContext } });
}
