/**
 * The one way files are written: into a temporary name beside the target, flushed, then renamed into place, so a
 * reader (or a crash) sees the old file or the new one, never half of one. File-system failures become one line
 * naming the path and what to do ({@link FileSystemError}), never a Node stack trace.
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { FileSystemError } from '../errors.ts';

/** What a user can do about each failure, by errno code. */
const ADVICE: Record<string, string> = {
  EACCES: 'permission denied; choose a folder you can write to, or fix its permissions',
  EPERM: 'operation not permitted; choose a folder you own, or fix its permissions',
  EROFS: 'the file system is read-only; choose a folder on a writable disk',
  ENOSPC: 'no space left on the device; free some space (or choose a folder on another disk) and run again',
  EDQUOT: 'disk quota exceeded; free some space and run again',
  ENOENT: 'no such file or folder; check the path',
  EISDIR: 'is a folder where a file was expected; give a file path',
  ENOTDIR: 'a part of this path is a file, not a folder; choose another path',
  EEXIST: 'already exists',
  ENOTEMPTY: 'the folder is not empty',
  EMFILE: 'too many open files; raise the limit (ulimit -n) or close other programs',
  EIO: 'input/output error from the disk; check the device',
  ENAMETOOLONG: 'the path is too long; choose a shorter one',
};

export const isErrno = (e: unknown): e is NodeJS.ErrnoException =>
  e instanceof Error && typeof (e as NodeJS.ErrnoException).code === 'string' && typeof (e as NodeJS.ErrnoException).syscall === 'string';

/** The user's path for a temporary one (`x.tmp-123-abcd` -> `x`), so messages name files as the user knows them. */
const userPath = (p: string) => p.replace(/\.(tmp|old)-\d+-[0-9a-f]+/g, '');

/** One line for a file-system error: the path, what failed, what to do. `file` names the path when the error has none. */
export function describeFsError(e: NodeJS.ErrnoException, file?: string): string {
  const where = userPath(e.path ?? file ?? '(unknown path)');
  const fileInTheWay = e.code === 'EEXIST' && e.syscall === 'mkdir';
  const advice = fileInTheWay ? 'a file is in the way where a folder is needed; move it or choose another path' : (ADVICE[e.code!] ?? e.message.split('\n')[0]);
  return `${where}: cannot ${e.syscall ?? 'access'} (${e.code}): ${advice}`;
}

/** Runs `fn`; an errno failure becomes a FileSystemError naming `file` (other errors pass through). */
export function fsCall<T>(file: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (isErrno(e)) throw new FileSystemError(describeFsError(e, file));
    throw e;
  }
}

/** Cleanup after a failure must not hide the failure: errors removing `p` are ignored. */
function removeQuietly(p: string): void {
  try {
    fs.rmSync(p, { recursive: true, force: true });
  } catch {
    // the path could not even be created (e.g. its parent is a file); nothing to remove
  }
}

const tmpName = (target: string) => `${target}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;

/** Writes every chunk to `fd` (writeSync may write less than asked). */
export function writeAll(fd: number, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.length) done += fs.writeSync(fd, bytes, done, bytes.length - done);
}

/**
 * Writes `file` atomically: `fill(fd)` writes into a new temporary file beside it, which is fsynced and renamed
 * over `file`. On any failure the temporary file is removed and `file` is left as it was.
 */
export function writeFileAtomicWith(file: string, fill: (fd: number) => void): void {
  const tmp = tmpName(file);
  let fd: number | undefined;
  try {
    fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    fd = fs.openSync(tmp, 'wx');
    fill(fd);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(tmp, file);
  } catch (e) {
    if (fd !== undefined) fs.closeSync(fd);
    removeQuietly(tmp);
    if (isErrno(e)) throw new FileSystemError(describeFsError(e, file));
    throw e;
  }
}

/** Writes `data` to `file` atomically (see {@link writeFileAtomicWith}). */
export function writeFileAtomic(file: string, data: string | Uint8Array | readonly Uint8Array[]): void {
  const chunks = typeof data === 'string' ? [Buffer.from(data, 'utf8')] : data instanceof Uint8Array ? [data] : data;
  writeFileAtomicWith(file, (fd) => chunks.forEach((c) => writeAll(fd, c)));
}

export const writeJsonAtomic = (file: string, value: unknown) => writeFileAtomic(file, `${JSON.stringify(value, null, 2)}\n`);

/**
 * Writes a whole folder atomically: `fill(tmp)` writes into `${dir}.tmp-<pid>-<rand>`, then an existing `dir` is
 * moved aside (`.old-...`), the new one renamed in and the old one deleted. On failure the temporary folder goes
 * and `dir` is left as it was. Leftovers of a killed save are removed by {@link removeStaleTemps}.
 */
export function saveFolderAtomic(dir: string, fill: (tmp: string) => void): void {
  const suffix = `${process.pid}-${randomBytes(6).toString('hex')}`;
  const tmp = `${dir}.tmp-${suffix}`;
  const old = `${dir}.old-${suffix}`;
  let movedAside = false;
  try {
    fs.mkdirSync(path.dirname(path.resolve(dir)), { recursive: true });
    fs.mkdirSync(tmp);
    fill(tmp);
    if (fs.existsSync(dir)) {
      fs.renameSync(dir, old);
      movedAside = true;
    }
    fs.renameSync(tmp, dir);
  } catch (e) {
    removeQuietly(tmp);
    if (movedAside && !fs.existsSync(dir)) fs.renameSync(old, dir);
    if (isErrno(e)) throw new FileSystemError(describeFsError(e, dir));
    throw e;
  }
  if (movedAside) fs.rmSync(old, { recursive: true, force: true });
}

/** Names of a folder's entries left by a killed atomic save (`*.tmp-<pid>-<hex>`, `*.old-<pid>-<hex>`). */
export const STALE_TEMP = /\.(tmp|old)-\d+-[0-9a-f]+$/;

/**
 * Removes what killed saves left in `dir` (not recursive): returns the names removed. Only names this module makes
 * are touched. A `.old-` folder whose target is missing is a save killed between its two renames: with `restore`
 * it is put back, without it (the caller can re-make the target, e.g. a run's model/ from its last checkpoint)
 * it is removed too, so a stale copy is never taken for the new one.
 */
export function removeStaleTemps(dir: string, restore = true): string[] {
  if (!fs.existsSync(dir)) return [];
  const removed: string[] = [];
  for (const name of fs.readdirSync(dir)) {
    if (!STALE_TEMP.test(name)) continue;
    const full = path.join(dir, name);
    const target = path.join(dir, name.replace(STALE_TEMP, ''));
    if (restore && name.includes('.old-') && !fs.existsSync(target)) {
      fs.renameSync(full, target);
      continue;
    }
    fs.rmSync(full, { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
}

/** Checks that `dir` can be written: creates it if needed, writes and removes a probe file. */
export function probeWritable(dir: string): void {
  fsCall(dir, () => fs.mkdirSync(dir, { recursive: true }));
  const probe = path.join(dir, `.write-probe-${process.pid}`);
  try {
    fs.writeFileSync(probe, '');
    fs.rmSync(probe);
  } catch (e) {
    if (!isErrno(e)) throw e;
    throw new FileSystemError(describeFsError({ ...e, message: e.message, path: dir, syscall: 'write files in' }));
  }
}

/** The absolute path with symlinks resolved as far as the path exists (the rest appended). */
export function realPathOf(p: string): string {
  const abs = path.resolve(p);
  let head = abs;
  const tail: string[] = [];
  while (!fs.existsSync(head) && path.dirname(head) !== head) {
    tail.unshift(path.basename(head));
    head = path.dirname(head);
  }
  return path.join(fs.realpathSync(head), ...tail);
}

/** True when `inner` is `outer` or inside it (both real paths). */
export function isInside(inner: string, outer: string): boolean {
  const rel = path.relative(outer, inner);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}
