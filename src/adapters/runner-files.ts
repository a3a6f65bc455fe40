import { mkdir, readdir, rm, writeFile, rename, chmod } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { InvalidArgumentError } from '../errors/index.js';
import { pidAlive } from './pid.js';

/**
 * Create a directory (and missing parents) with owner-only permissions.
 * @remarks Only directories this call creates get mode 0700 (set explicitly, whatever the umask);
 * an existing directory keeps its mode — it may be shared (a 1777 temp dir, a home directory) and
 * is not ours to change.
 * @internal
 */
export async function ensurePrivateDir(path: string): Promise<void> {
  const first = await mkdir(path, { recursive: true, mode: 0o700 });
  if (first === undefined) return;
  // mkdir returns the top-most directory it created; everything from there down to `path` is ours.
  const top = resolve(first);
  for (let dir = resolve(path); ; dir = dirname(dir)) {
    await chmod(dir, 0o700).catch(() => {});
    if (dir === top || dirname(dir) === dir) break;
  }
}

/**
 * Write a JSON file atomically with owner-only permissions (temp file + rename).
 * @internal
 */
export async function writePrivateJson(path: string, value: unknown): Promise<void> {
  const temp = `${path}.${process.pid}.tmp`;
  await writeFile(temp, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600 });
  await rename(temp, path);
}

/**
 * A file name safe on every platform: characters outside `[A-Za-z0-9_.-]` become `_`, no leading
 * dots (no hidden files, no `..`), at most `max` characters, never empty.
 * @internal
 */
export function sanitizeFileName(name: string, max = 120): string {
  const cleaned = name.replace(/[^A-Za-z0-9_.-]/g, '_').replace(/^\.+/, '_').slice(0, max);
  return cleaned.length > 0 ? cleaned : 'file';
}

/**
 * Remove scratch directories (`scratch-<pid>`) left behind by runner processes that no longer run.
 * @returns the names removed.
 * @internal
 */
export async function sweepStaleScratch(parent: string, isAlive: (pid: number) => boolean = pidAlive): Promise<string[]> {
  const removed: string[] = [];
  let entries: string[];
  try {
    entries = await readdir(parent);
  } catch {
    return removed;
  }
  for (const entry of entries) {
    const match = /^scratch-(\d+)$/.exec(entry);
    if (!match) continue;
    const pid = Number(match[1]);
    if (pid === process.pid || isAlive(pid)) continue;
    await rm(join(parent, entry), { recursive: true, force: true });
    removed.push(entry);
  }
  return removed;
}


/**
 * Save attachment bytes into a per-message folder of the cache; returns the local path.
 * @internal
 */
export async function saveAttachmentFile(cacheDir: string, messageId: string, name: string, bytes: Uint8Array): Promise<string> {
  if (messageId.length === 0) throw new InvalidArgumentError('attachment needs a message id');
  const dir = join(cacheDir, sanitizeFileName(messageId));
  await ensurePrivateDir(dir);
  const path = join(dir, sanitizeFileName(name));
  await writeFile(path, bytes, { mode: 0o600 });
  return path;
}
