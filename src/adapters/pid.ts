import { readFileSync } from 'node:fs';

/**
 * Whether a process with this pid runs (EPERM: it exists but belongs to someone else). A zombie
 * (dead, not yet reaped by its parent) still answers signal 0; on Linux /proc tells it apart.
 * The one liveness check behind stale scratch dirs, stale `runner.json` files and stale store locks.
 * @internal
 */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    // /proc/<pid>/stat is "pid (comm) S …"; comm may hold spaces and parentheses, the state follows the last ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true; // no /proc (macOS, Windows): signal 0 is all there is
  }
}
