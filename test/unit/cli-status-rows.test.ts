import { describe, expect, it } from 'vitest';
import { statusRows } from '../../src/cli/status.js';
import { shellLine } from '../../src/cli/common.js';

describe('status rows: the attach command', () => {
  it('shows the terminal command to copy, marked read-only when it is', () => {
    const rows = statusRows({ state: 'idle' }, { kind: 'tmux', command: ['tmux', '-S', '/tmp/arr-tmux-x/tmux.sock', 'attach-session', '-r', '-t', 'arr-1'] });
    expect(rows).toContainEqual(['attach (ro)', 'tmux -S /tmp/arr-tmux-x/tmux.sock attach-session -r -t arr-1']);
    expect(statusRows({ state: 'idle' }, { kind: 'tmux', command: ['tmux', 'attach-session', '-t', 'a'] })).toContainEqual(['attach', 'tmux attach-session -t a']);
  });

  it('shows nothing for a provider without a terminal or a malformed answer', () => {
    expect(statusRows({ state: 'idle' }, { kind: 'none' })).toEqual([['state', 'idle']]);
    expect(statusRows({ state: 'idle' }, { kind: 'tmux', command: [1, 2] })).toEqual([['state', 'idle']]);
    expect(statusRows({ state: 'idle' })).toEqual([['state', 'idle']]);
  });

  it('quotes words a shell would split or expand', () => {
    expect(shellLine(['tmux', '-S', "/tmp/my dir/it's.sock", '$HOME'])).toBe(`tmux -S '/tmp/my dir/it'\\''s.sock' '$HOME'`);
  });
});
