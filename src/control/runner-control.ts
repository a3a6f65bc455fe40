/**
 * The runner core seen from the control port: the operations its own routes need
 * ({@link RunnerControl}) and the {@link ProviderHost} a provider gets to register its routes and
 * ask the runner (Stop decision, permission relay).
 */
import type { RunnerCore } from '../core/runner.js';
import { isInitialPromptId } from '../core/turns.js';
import { ClosedError } from '../errors/index.js';
import type { ControlRoutes } from '../ports/control.js';
import type { Logger } from '../ports/logger.js';
import type { ProviderHost } from '../ports/provider.js';
import type { RunnerControl } from './runner-routes.js';

/** Answer the runner's own routes from the core. */
export function runnerControlFor(core: RunnerCore, logger: Logger): RunnerControl {
  return {
    providerStatus: () => ({ ...core.status.get(), connected: core.connected }),
    terminalAttachSpec: () => core.attachSpec(),
    obligations: () => {
      const snapshot = core.obligations();
      return {
        items: snapshot.items.map((o) => ({ messageId: o.messageId, from: o.from, excerpt: o.excerpt, shown: o.shown })),
        ...(snapshot.fetchedAt !== undefined ? { fetchedAt: snapshot.fetchedAt } : {}),
        stale: snapshot.stale,
      };
    },
    getLogLevel: () => logger.getLevel(),
    setLogLevel: (level) => core.setLogLevel(level),
    send: async (request) => {
      const result = await core.send({ to: request.to, body: request.body, ...(request.replyTo ? { replyTo: request.replyTo } : {}) });
      return { seq: result.seq };
    },
    message: (messageId) => {
      const accepted = core.message(messageId);
      // The runner's own initial prompt is not a relay message: nobody to answer.
      if (accepted && !isInitialPromptId(messageId)) return { from: accepted.from, attachments: accepted.attachments ?? [] };
      // Owed from before this run (the relay's obligation list): the sender is known, the files are not.
      const owed = core.obligations().items.find((o) => o.messageId === messageId);
      return owed ? { from: owed.from, attachments: [] } : undefined;
    },
    hookFatal: (report) =>
      core.hookFatal({ hook: report.hook, message: report.command, exitCode: report.exitCode, line: report.line, command: report.command }),
  };
}

/**
 * The host a provider of this runner gets; `routes` is the control port once it listens.
 * @param core - the runner's answers (pass lambdas when the core is built after its host)
 */
export function providerHostFor(core: Pick<RunnerCore, 'stopDecision' | 'requestPermission'>, routes: () => ControlRoutes | undefined): ProviderHost {
  return {
    addControlRoute: (route) => {
      const control = routes();
      if (!control) throw new ClosedError('control port');
      return control.addRoute(route);
    },
    stopDecision: (stopHookActive) => core.stopDecision(stopHookActive),
    requestPermission: (request) => core.requestPermission(request),
  };
}
