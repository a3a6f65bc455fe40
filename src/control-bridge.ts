import type { Logger } from './ports/logger.js';
import type { RunnerCore } from './core/runner.js';
import type { ControlHandlers, PermissionOutcome } from './control/handlers.js';

/**
 * Answer the control port from the runner core: hook payloads become provider events, the Stop
 * decision reads the obligation snapshot, sends go through the outbox.
 * @internal
 */
export function controlHandlersFor(core: RunnerCore, logger: Logger): ControlHandlers {
  /** Dedupe of the Stop hook's two report paths (main call and exit fallback) per turn. */
  let lastTurnKey = '';
  return {
    providerStatus: () => ({ ...core.status.get(), connected: core.connected }),
    terminalAttachSpec: () => core.attachSpec(),
    obligations: () => {
      const snapshot = core.obligations();
      return {
        items: snapshot.items.map((o) => ({ messageId: o.messageId, from: o.from, excerpt: o.excerpt })),
        ...(snapshot.fetchedAt !== undefined ? { fetchedAt: snapshot.fetchedAt } : {}),
        stale: snapshot.stale,
      };
    },
    stopDecision: (input) => {
      const verdict = core.stopDecision(input.stopHookActive);
      return verdict.block ? { block: true, reason: verdict.reason ?? 'You still owe a reply on the relay.' } : { block: false };
    },
    // Providers that report turns on their own channel (demo, Codex, headless stdout) would see
    // every turn twice if the hooks reported them too; for those the hooks only ask and observe.
    sessionTurn: (turn) => {
      if (!core.hookDriven) return;
      const key = `${turn.sessionId ?? ''}|${turn.transcriptPath ?? ''}|${turn.lastAssistantMessage ?? ''}`;
      if (key === lastTurnKey && turn.via === 'stop-exit') return;
      lastTurnKey = key;
      core.providerEvent({ type: 'turn.completed', ...(turn.lastAssistantMessage ? { finalText: turn.lastAssistantMessage } : {}) });
    },
    userPrompt: (input) => {
      if (!core.hookDriven) return;
      core.providerEvent({ type: 'turn.started', prompt: input.prompt });
    },
    sessionStart: (input) => {
      if (core.hookDriven && input.sessionId) {
        const source = ['startup', 'resume', 'clear', 'compact'].includes(input.source) ? input.source : 'startup';
        core.providerEvent({ type: 'session', sessionId: input.sessionId, source: source as 'startup' });
      }
    },
    // Subagents are counted from the hooks for every provider that runs them: Claude's headless
    // stdout does not report subagent lifecycles, and providers without hooks never call this.
    subagent: (input) => {
      core.providerEvent({ type: 'subagent', phase: input.phase, ...(input.agentId ? { id: input.agentId } : {}) });
    },
    compact: (input) => {
      logger.info('provider', `compaction ${input.phase} (${input.trigger ?? 'unknown trigger'})`);
      core.status.activity();
    },
    stopFailure: (input) => {
      logger.error('provider', `turn failed: ${input.error ?? 'unknown error'}${input.errorDetails ? ` (${input.errorDetails})` : ''}`);
      if (core.hookDriven) core.providerEvent({ type: 'turn.completed', interrupted: true });
    },
    sessionEnd: (input) => core.sessionEnded(input.reason ?? 'other'),
    hookFatal: (report) =>
      core.hookFatal({ hook: report.hook, message: report.command, exitCode: report.exitCode, line: report.line, command: report.command }),
    getLogLevel: () => logger.getLevel(),
    setLogLevel: (level) => core.setLogLevel(level),
    send: async (request) => {
      const result = await core.send({ to: request.to, body: request.body, ...(request.replyTo ? { replyTo: request.replyTo } : {}) });
      return { seq: result.seq };
    },
    permissionRequest: async (input, context): Promise<PermissionOutcome> => {
      const summary = summarizeToolInput(input.toolInput);
      const outcome = await core.requestPermission({ tool: input.toolName, summary, input: input.toolInput });
      if (context.signal.aborted) return { behavior: 'ask' };
      if (outcome.behavior === 'ask') return { behavior: 'ask' };
      if (outcome.behavior === 'allow') return { behavior: 'allow' };
      return { behavior: 'deny', message: outcome.message ?? 'denied by the relay' };
    },
  };
}

/** A one-line summary of a tool input for the dashboard (command, path, or the first fields). */
function summarizeToolInput(input: Record<string, unknown>): string {
  const pick = input.command ?? input.file_path ?? input.path ?? input.url ?? input.pattern;
  const text = typeof pick === 'string' ? pick : JSON.stringify(input);
  return text.length > 200 ? `${text.slice(0, 197)}...` : text;
}
