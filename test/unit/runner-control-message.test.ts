import { describe, expect, it } from 'vitest';
import { runnerControlFor } from '../../src/control/runner-control.js';
import type { RunnerCore } from '../../src/core/runner.js';
import { createMemoryLogger } from '../../src/testing/memory-logger.js';

/** A core that accepted `accepted` in this run and whose relay obligation list is `owed`. */
function coreWith(accepted: Record<string, { from: string; attachments?: string[] }>, owed: Array<{ messageId: string; from: string }>): RunnerCore {
  return {
    message: (id: string) => (accepted[id] ? { id, body: 'b', expectsReply: true, ...accepted[id] } : undefined),
    obligations: () => ({ items: owed.map((o) => ({ ...o, shown: true })), fetchedAt: 1, stale: false }),
  } as unknown as RunnerCore;
}

describe('RunnerControl.message: what the reply and attachments routes know of a message', () => {
  it('a message accepted in this run: its sender and attachment paths', () => {
    const control = runnerControlFor(coreWith({ m1: { from: 'alice', attachments: ['/a/x.txt'] }, m2: { from: 'bob' } }, []), createMemoryLogger());
    expect(control.message('m1')).toEqual({ from: 'alice', attachments: ['/a/x.txt'] });
    expect(control.message('m2')).toEqual({ from: 'bob', attachments: [] });
  });

  it('a message known only from the relay obligation list (an earlier run): its sender, no files', () => {
    const control = runnerControlFor(coreWith({}, [{ messageId: 'old-1', from: 'carol' }]), createMemoryLogger());
    expect(control.message('old-1')).toEqual({ from: 'carol', attachments: [] });
    expect(control.message('nope')).toBeUndefined();
  });

  it("the runner's own initial prompt is nobody's message to answer", () => {
    const control = runnerControlFor(coreWith({ 'initial-5': { from: 'runner' } }, []), createMemoryLogger());
    expect(control.message('initial-5')).toBeUndefined();
  });
});
