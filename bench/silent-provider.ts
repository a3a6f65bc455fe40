import type { ProviderAdapter, ProviderSession } from '../src/ports/provider.js';

type Exit = { code: number | null; signal: string | null };

/**
 * A provider that is up at once, takes every turn silently and exits only when stopped: what a
 * benchmark uses when it measures the runner alone (no CLI start, no answer).
 */
export function silentProvider(name = 'silent'): ProviderAdapter {
  return {
    name,
    capabilities: { structuredInput: true, resume: false, interactive: false, hookDriven: false, midTurnMessages: 'queue' },
    checkVersion: async () => '0',
    start: async (): Promise<ProviderSession> => {
      let resolveExit!: (exit: Exit) => void;
      const exited = new Promise<Exit>((resolve) => (resolveExit = resolve));
      return {
        pid: undefined,
        deliver: async () => {},
        interrupt: async () => {},
        decidePermission: () => {},
        onEvent: () => () => {},
        attachSpec: () => ({ kind: 'none' }),
        exited,
        stop: async () => {
          resolveExit({ code: 0, signal: null });
          return { code: 0, signal: null };
        },
      };
    },
  };
}
