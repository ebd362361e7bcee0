/**
 * The dashboard serves files from RUNS_DIR only. A request path is decoded once, and refused when it holds a NUL,
 * a backslash, a `..` or `.` segment, or when the file it names (symlinks followed) lies outside the folder.
 */
import fs from 'node:fs';
import path from 'node:path';
import { isInside } from '../util/fs.ts';

/** Why a path was refused, or the real path of the file inside `root`. */
export type Resolved = { ok: true; file: string } | { ok: false; reason: string };

/**
 * Resolves `urlPath` (the part of the URL after the route prefix, still percent-encoded) inside `root`.
 * Refuses rather than normalises: a request with `..` in it is never a mistake worth serving.
 */
export function resolveInside(root: string, urlPath: string): Resolved {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return { ok: false, reason: 'bad percent-encoding' };
  }
  if (decoded.includes('\0') || decoded.includes('\\')) return { ok: false, reason: 'forbidden character' };
  const parts = decoded.split('/').filter((p) => p !== '');
  if (parts.some((p) => p === '..' || p === '.')) return { ok: false, reason: 'dot segment' };
  if (parts.length === 0) return { ok: false, reason: 'no file named' };
  let realRoot: string;
  let real: string;
  try {
    realRoot = fs.realpathSync(root);
    real = fs.realpathSync(path.join(realRoot, ...parts));
  } catch {
    return { ok: false, reason: 'no such file' };
  }
  if (!isInside(real, realRoot)) return { ok: false, reason: 'outside the runs folder' };
  return { ok: true, file: real };
}

/** `file` exists and, symlinks followed, lies inside `root` (for files the dashboard opens by its own paths). */
export function fileInside(root: string, file: string): boolean {
  try {
    return isInside(fs.realpathSync(file), fs.realpathSync(root));
  } catch {
    return false;
  }
}
