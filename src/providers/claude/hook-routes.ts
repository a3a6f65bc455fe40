/**
 * The Claude Code hooks, seen from the provider: the control-port routes `hooks/*.sh` call, and
 * their translation into runner events. The control server knows nothing of Claude; a Claude
 * session registers these routes through its `ProviderHost` when it starts and removes them when
 * it ends.
 *
 * Two layers, so each can be tested alone: {@link claudeHookRoutes} turns validated payloads into
 * calls on a {@link ClaudeHookSink} and the sink's answers into the exact JSON Claude reads;
 * {@link claudeHookSink} is the sink a session uses: hook-reported lifecycle becomes
 * `ProviderEvent`s on the session's own event channel, and the two questions a hook asks (may the
 * agent stop? may this tool run?) go to the host.
 */
import type { ControlRoute, ControlRouteContext } from '../../ports/control.js';
import type { Logger } from '../../ports/logger.js';
import type { ProviderDeps, ProviderEvent, ProviderHost, ProviderSession } from '../../ports/provider.js';
import { defineRoute as route } from '../../control/body-schema.js';
import { EventFanout } from '../kit/events.js';
import { isJsonObject } from '../kit/json.js';
import { COMPONENT, shorten, summarizeToolInput } from '../kit/text.js';
import { TranscriptMirror, type HookEventContext } from './transcript-mirror.js';
import {
  additionalContextOutput,
  compactSchema,
  permissionOutput,
  permissionRequestSchema,
  sessionEndSchema,
  sessionStartSchema,
  sessionTurnSchema,
  stopBlockOutput,
  stopFailureSchema,
  stopSchema,
  subagentSchema,
  toolHookSchema,
  userPromptSchema,
  type CompactInput,
  type HookAdditionalContext,
  type PermissionOutcome,
  type PermissionRequestInput,
  type SessionEndInput,
  type SessionStartInput,
  type SessionTurnInput,
  type StopFailureInput,
  type StopInput,
  type SubagentInput,
  type ToolHookInput,
  type UserPromptInput,
} from './hook-schemas.js';

/**
 * The longest a permission request may wait at the runner, in ms.
 * @remarks The PermissionRequest hook's curl gives up at 290 s and Claude kills the hook at 300 s
 * (`hooks/hooks.json`); the runner must answer before either, so its bounded wait must stay below this.
 * @public
 */
export const PERMISSION_MAX_WAIT_MS = 280_000;

/** What the Stop hook prints when the runner blocks without saying why. */
const DEFAULT_STOP_REASON =
  'You still owe a reply on the Agent Relay. Answer it with the `reply` tool of the `relay` MCP server (message id and answer), or `agent-relay-runner send --to <sender> --reply-to <message id> <body>`, before stopping.';

/** What each hook endpoint does with its validated payload. One method per hook. */
export interface ClaudeHookSink {
  /**
   * `POST /hooks/stop`: may the agent stop? SYNCHRONOUS: a local snapshot, never the network.
   * The route never blocks when `input.stopHookActive`, whatever this returns; when it does not
   * block, the route then calls {@link ClaudeHookSink.sessionTurn} (`via: 'stop'`).
   */
  stopDecision(input: StopInput): { block: boolean; reason?: string };
  /**
   * The turn ended (after a non-blocking Stop, or `POST /hooks/session-turn`, the Stop hook's exit
   * fallback). May come twice for one turn when a response was lost on its way back: dedupe.
   */
  sessionTurn(turn: SessionTurnInput): void | Promise<void>;
  /** `POST /hooks/user-prompt`: a prompt reached the model. A returned context is handed to Claude. */
  userPrompt(input: UserPromptInput): void | HookAdditionalContext | Promise<void | HookAdditionalContext>;
  /** `POST /hooks/session-start`. A returned context is handed to Claude. */
  sessionStart(input: SessionStartInput): void | HookAdditionalContext | Promise<void | HookAdditionalContext>;
  /** `POST /hooks/subagent-start` and `/hooks/subagent-stop`. */
  subagent(input: SubagentInput): void | Promise<void>;
  /** `POST /hooks/pre-compact` and `/hooks/post-compact`. */
  compact(input: CompactInput): void | Promise<void>;
  /** `POST /hooks/stop-failure`: the turn died on an API error. */
  stopFailure(input: StopFailureInput): void | Promise<void>;
  /** `POST /hooks/session-end`: the session is ending. */
  sessionEnd(input: SessionEndInput): void | Promise<void>;
  /**
   * `POST /hooks/pre-tool-use`, `/hooks/post-tool-use`, `/hooks/post-tool-use-failure`: a tool step
   * to mirror. Observation only: the route answers 204 (no decision, Claude goes on as usual).
   */
  toolUse(input: ToolHookInput): void;
  /**
   * `POST /hooks/permission-request`: relay and wait (bounded, below {@link PERMISSION_MAX_WAIT_MS}).
   * When `context.signal` aborts the hook is gone: settle quietly and apply nothing late.
   */
  permissionRequest(input: PermissionRequestInput, context: ControlRouteContext): PermissionOutcome | Promise<PermissionOutcome>;
}

const NO_CONTENT = { status: 204 } as const;

/** 200 with a SessionStart / UserPromptSubmit context when the sink returned one, else 204. */
const contextResult = (event: 'SessionStart' | 'UserPromptSubmit', value: void | HookAdditionalContext) => {
  const text = value && typeof value.additionalContext === 'string' ? value.additionalContext : '';
  return text ? { status: 200, body: additionalContextOutput(event, text) } : NO_CONTENT;
};

/** The Claude hook endpoints (paths and answers as `hooks/*.sh` expect them), answered by `sink`. */
export function claudeHookRoutes(sink: ClaudeHookSink): ControlRoute<unknown>[] {
  const post = 'POST' as const;
  const routes = [
    route({
      method: post,
      path: '/hooks/stop',
      body: stopSchema,
      handle: async (input) => {
        const decision = sink.stopDecision(input);
        // Belt and braces with the hook: a stop that follows a block is never blocked again.
        if (decision.block && !input.stopHookActive) {
          return { status: 200, body: stopBlockOutput(decision.reason?.trim() || DEFAULT_STOP_REASON) };
        }
        const { stopHookActive: _active, ...turn } = input;
        await sink.sessionTurn({ ...turn, via: 'stop' });
        return NO_CONTENT;
      },
    }),
    route({
      method: post,
      path: '/hooks/session-turn',
      body: sessionTurnSchema,
      handle: async (input) => (await sink.sessionTurn({ ...input, via: 'stop-exit' }), NO_CONTENT),
    }),
    route({
      method: post,
      path: '/hooks/user-prompt',
      body: userPromptSchema,
      handle: async (input) => contextResult('UserPromptSubmit', await sink.userPrompt(input)),
    }),
    route({
      method: post,
      path: '/hooks/session-start',
      body: sessionStartSchema,
      handle: async (input) => contextResult('SessionStart', await sink.sessionStart(input)),
    }),
    ...(['start', 'stop'] as const).map((phase) =>
      route({ method: post, path: `/hooks/subagent-${phase}`, body: subagentSchema(phase), handle: async (input) => (await sink.subagent(input), NO_CONTENT) }),
    ),
    ...(['pre', 'post'] as const).map((phase) =>
      route({ method: post, path: `/hooks/${phase}-compact`, body: compactSchema(phase), handle: async (input) => (await sink.compact(input), NO_CONTENT) }),
    ),
    route({ method: post, path: '/hooks/stop-failure', body: stopFailureSchema, handle: async (input) => (await sink.stopFailure(input), NO_CONTENT) }),
    route({ method: post, path: '/hooks/session-end', body: sessionEndSchema, handle: async (input) => (await sink.sessionEnd(input), NO_CONTENT) }),
    ...(['pre', 'post', 'failure'] as const).map((phase) =>
      route({
        method: post,
        path: phase === 'pre' ? '/hooks/pre-tool-use' : phase === 'post' ? '/hooks/post-tool-use' : '/hooks/post-tool-use-failure',
        body: toolHookSchema(phase),
        handle: (input) => (sink.toolUse(input), NO_CONTENT),
      }),
    ),
    route({
      method: post,
      path: '/hooks/permission-request',
      body: permissionRequestSchema,
      handle: async (input, context) => {
        const output = permissionOutput(await sink.permissionRequest(input, context));
        return output ? { status: 200, body: output } : NO_CONTENT;
      },
    }),
  ];
  return routes as ControlRoute<unknown>[];
}

/** What {@link claudeHookSink} works with. */
export interface ClaudeHookSinkOptions {
  /** The runner: Stop decision and permission relay. */
  host: Pick<ProviderHost, 'stopDecision' | 'requestPermission'>;
  /**
   * Whether the hooks report turns (interactive) or only ask and observe (headless, where stdout
   * reports turns and session: hearing them twice would double every turn).
   */
  hookDriven: boolean;
  /**
   * Where hook-reported events go (the session's event channel), with where in the transcript
   * each stands (see {@link TranscriptMirror}).
   */
  dispatch: (event: ProviderEvent, context?: HookEventContext) => void;
}

const SESSION_SOURCES: ReadonlySet<string> = new Set(['startup', 'resume', 'clear', 'compact']);

/** The sink a Claude session uses: hook payloads → provider events and host calls. */
export function claudeHookSink({ host, hookDriven, dispatch }: ClaudeHookSinkOptions): ClaudeHookSink {
  /** Dedupe of the Stop hook's two report paths (main call and exit fallback) per turn. */
  let lastTurnKey = '';
  return {
    stopDecision: (input) => {
      const verdict = host.stopDecision(input.stopHookActive);
      return verdict.block ? { block: true, reason: verdict.reason ?? 'You still owe a reply on the relay.' } : { block: false };
    },
    sessionTurn: (turn) => {
      if (!hookDriven) return;
      const key = `${turn.sessionId ?? ''}|${turn.transcriptPath ?? ''}|${turn.lastAssistantMessage ?? ''}`;
      if (key === lastTurnKey && turn.via === 'stop-exit') return;
      lastTurnKey = key;
      dispatch(
        { type: 'turn.completed', ...(turn.lastAssistantMessage ? { finalText: turn.lastAssistantMessage } : {}) },
        defined({ transcriptPath: turn.transcriptPath, finalText: turn.lastAssistantMessage }),
      );
    },
    userPrompt: (input) => {
      if (hookDriven) dispatch({ type: 'turn.started', prompt: input.prompt }, defined({ transcriptPath: input.transcriptPath }));
    },
    sessionStart: (input) => {
      if (!hookDriven || !input.sessionId) return;
      const source = (SESSION_SOURCES.has(input.source) ? input.source : 'startup') as 'startup' | 'resume' | 'clear' | 'compact';
      dispatch({ type: 'session', sessionId: input.sessionId, source }, defined({ transcriptPath: input.transcriptPath }));
    },
    // Headless stdout reports tool steps itself; only a hook-driven session mirrors them from here.
    toolUse: (input) => {
      if (!hookDriven) return;
      const where = defined({ transcriptPath: input.transcriptPath, toolUseId: input.toolUseId });
      if (input.phase === 'pre') return dispatch({ type: 'tool', name: input.toolName, summary: summarizeToolInput(input.toolInput), status: 'started' }, where);
      const failed = input.phase === 'failure';
      const summary = failed ? shorten(oneLine(input.error ?? 'failed'), SUMMARY_CHARS) : toolResponseSummary(input.toolResponse);
      dispatch({ type: 'tool', name: input.toolName, summary, status: failed ? 'failed' : 'completed' }, where);
    },
    // Subagents are counted from the hooks in every mode: headless stdout does not report their lifecycle.
    subagent: (input) => dispatch({ type: 'subagent', phase: input.phase, ...(input.agentId ? { id: input.agentId } : {}) }),
    compact: (input) => dispatch({ type: 'compaction', phase: input.phase, ...(input.trigger ? { trigger: input.trigger } : {}) }),
    stopFailure: (input) => {
      dispatch({ type: 'turn.failed', ...(input.error ? { error: input.error } : {}), ...(input.errorDetails ? { details: input.errorDetails } : {}) });
      if (hookDriven) dispatch({ type: 'turn.completed', interrupted: true });
    },
    sessionEnd: (input) => dispatch({ type: 'session.ended', reason: input.reason ?? 'other' }),
    permissionRequest: async (input, context) => {
      const summary = summarizeToolInput(input.toolInput);
      const outcome = await host.requestPermission({ tool: input.toolName, summary, input: input.toolInput });
      if (context.signal.aborted || outcome.behavior === 'ask') return { behavior: 'ask' };
      if (outcome.behavior === 'allow') return { behavior: 'allow' };
      return { behavior: 'deny', message: outcome.message ?? 'denied by the relay' };
    },
  };
}

/** The live registration per host: one Claude session per runner, a new one replaces the last. */
const live = new WeakMap<ProviderHost, () => void>();

/**
 * Serve the Claude hook routes for `session` on the runner's control port, for as long as the
 * session lives; hook-reported events join the session's own event channel.
 * @returns the session to hand to the runner (same behaviour; `onEvent` also carries hook events)
 * @remarks Without a host (a provider used outside a runner) the session is returned as is. With
 * `transcriptMirror` (interactive), hook events pass through a {@link TranscriptMirror}: tool
 * steps from the tool hooks, each after the reasoning the transcript holds before it.
 */
export function withClaudeHooks(
  session: ProviderSession,
  deps: ProviderDeps,
  options: { hookDriven: boolean; transcriptMirror?: boolean; onSessionTranscript?: (sessionId: string, transcriptPath: string) => void },
): ProviderSession {
  const host = deps.host;
  if (!host) {
    deps.logger.debug(COMPONENT, 'claude: no provider host; hook routes not registered');
    return session;
  }
  // Kept until the runner subscribes: a SessionStart hook may arrive before it does.
  const hookEvents = new EventFanout(deps.logger, 'claude hooks', session.pid, 1_000);
  const logged = logDispatch(deps.logger, (event) => hookEvents.dispatch(event));
  // Interactive: hook events are ordered with the reasoning of the transcript (never holding a hook).
  const mirror = options.transcriptMirror ? new TranscriptMirror({ clock: deps.clock, logger: deps.logger, dispatch: logged }) : undefined;
  const onTranscript = options.onSessionTranscript;
  const dispatch = (event: ProviderEvent, context?: HookEventContext): void => {
    if (onTranscript && event.type === 'session' && context?.transcriptPath) onTranscript(event.sessionId, context.transcriptPath);
    if (mirror) mirror.push(event, context);
    else logged(event);
  };
  const sink = claudeHookSink({ host, hookDriven: options.hookDriven, dispatch });
  live.get(host)?.();
  const removers = claudeHookRoutes(sink).map((r) => host.addControlRoute(r));
  const dispose = () => {
    for (const remove of removers.splice(0)) remove();
    if (live.get(host) === dispose) live.delete(host);
  };
  live.set(host, dispose);
  void session.exited.then(dispose);
  return {
    get pid() {
      return session.pid;
    },
    exited: session.exited,
    deliver: (turn) => session.deliver(turn),
    interrupt: () => session.interrupt(),
    decidePermission: (requestId, decision) => session.decidePermission(requestId, decision),
    onEvent(listener) {
      const offOwn = session.onEvent(listener);
      const offHooks = hookEvents.subscribe(listener);
      return () => {
        offOwn();
        offHooks();
      };
    },
    attachSpec: () => session.attachSpec(),
    stop: () => session.stop(),
  };
}

/** Log each hook-reported event (debug), then pass it on. */
function logDispatch(logger: Logger, next: (event: ProviderEvent) => void): (event: ProviderEvent) => void {
  return (event) => {
    logger.debug(COMPONENT, `claude hook event ${event.type}`);
    next(event);
  };
}

const SUMMARY_CHARS = 200;
const oneLine = (text: string): string => text.replace(/\s+/g, ' ').trim();

/** `value` without its undefined members (exact optional properties). */
function defined<T extends Record<string, string | undefined>>(value: T): { [K in keyof T]?: string } {
  const out: Record<string, string> = {};
  for (const [key, item] of Object.entries(value)) if (item !== undefined) out[key] = item;
  return out as { [K in keyof T]?: string };
}

/**
 * The one-line summary of a PostToolUse `tool_response` (JSON text): what headless mode shows for a
 * tool result — Bash's stdout (else stderr), a text field of the response, else the JSON itself.
 */
export function toolResponseSummary(response: string | undefined): string {
  if (response === undefined) return '';
  let parsed: unknown = response;
  try {
    parsed = JSON.parse(response);
  } catch {
    // plain text
  }
  let text: string;
  if (typeof parsed === 'string') text = parsed;
  else if (isJsonObject(parsed)) {
    const pick = [parsed.stdout, parsed.stderr, parsed.content, parsed.output, parsed.result, parsed.text].find((f) => typeof f === 'string' && f.trim());
    text = typeof pick === 'string' ? pick : response;
  } else text = response;
  return shorten(oneLine(text), SUMMARY_CHARS);
}
