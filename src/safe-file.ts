import { constants } from 'node:fs';
import { lstat, open } from 'node:fs/promises';
import { isAbsolute, join, normalize, sep } from 'node:path';

// Reading what an untrusted build wrote. A series' Makefile runs in the container and can
// leave anything in its build dir: a symlink to a host file (listci.db, /etc/shadow), a FIFO
// that blocks the reader forever, a sparse 100 GB file. The host reads a build dir's file
// only through here: no component of the path may be a symlink, the file must be a regular
// file (opened O_NONBLOCK, so a FIFO cannot block the open), and it must fit under a cap.
// The build's container has exited by then, so nothing changes the dir between the checks
// and the read.

export class UnsafeFileError extends Error {
  override name = 'UnsafeFileError';
}

const OPEN_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

function kindOf(st: {
  isSymbolicLink(): boolean;
  isFIFO(): boolean;
  isDirectory(): boolean;
  isSocket(): boolean;
}): string {
  if (st.isSymbolicLink()) return 'a symlink';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isDirectory()) return 'a directory';
  if (st.isSocket()) return 'a socket';
  return 'a device';
}

/** `rel` split into components under `root`; absolute paths and `..` are refused. */
function components(root: string, rel: string): string[] {
  const n = normalize(rel);
  if (isAbsolute(n) || n === '..' || n.startsWith(`..${sep}`))
    throw new UnsafeFileError(`${rel} is not inside the build dir ${root}`);
  return n.split(sep).filter((c) => c !== '' && c !== '.');
}

/** Every directory between root and the file must be a real directory, not a link out of it. */
async function checkParents(root: string, parts: string[], rel: string): Promise<void> {
  let at = root;
  for (const c of parts.slice(0, -1)) {
    at = join(at, c);
    const st = await lstat(at).catch(() => null);
    if (!st) return;
    if (!st.isDirectory()) throw new UnsafeFileError(`${rel}: ${c} is ${kindOf(st)}, not a directory`);
  }
}

function mb(n: number): string {
  return `${(n / (1024 * 1024)).toFixed(n < 1024 * 1024 ? 2 : 0)} MB`;
}

function notRegular(rel: string, st: Parameters<typeof kindOf>[0]): UnsafeFileError {
  return new UnsafeFileError(`${rel} is ${kindOf(st)}, not a regular file`);
}

function tooBig(rel: string, size: number, maxBytes: number): UnsafeFileError {
  return new UnsafeFileError(`${rel} is ${mb(size)}, over the ${mb(maxBytes)} listci reads`);
}

function openError(e: unknown, rel: string): Error {
  const code = (e as NodeJS.ErrnoException).code;
  // O_NOFOLLOW on a symlink: ELOOP (Linux), EMLINK (FreeBSD).
  if (code === 'ELOOP' || code === 'EMLINK')
    return new UnsafeFileError(`${rel} is a symlink, not a regular file`);
  return e as Error;
}

/** The file's bytes, or null when it does not exist. Throws UnsafeFileError for anything but a plain file. */
export async function readBuildFile(root: string, rel: string, maxBytes: number): Promise<Buffer | null> {
  const parts = components(root, rel);
  await checkParents(root, parts, rel);
  let fh;
  try {
    fh = await open(join(root, ...parts), OPEN_FLAGS);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw openError(e, rel);
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw notRegular(rel, st);
    if (st.size > maxBytes) throw tooBig(rel, st.size, maxBytes);
    const buf = Buffer.alloc(st.size);
    let off = 0;
    while (off < st.size) {
      const { bytesRead } = await fh.read(buf, off, st.size - off, off);
      if (bytesRead === 0) break;
      off += bytesRead;
    }
    return buf.subarray(0, off);
  } finally {
    await fh.close();
  }
}

/** mtime and size of a regular file, null when absent; anything else is an UnsafeFileError. */
export async function statBuildFile(
  root: string,
  rel: string,
): Promise<{ mtimeMs: number; size: number } | null> {
  const parts = components(root, rel);
  await checkParents(root, parts, rel);
  const st = await lstat(join(root, ...parts)).catch(() => null);
  if (!st) return null;
  if (!st.isFile()) throw notRegular(rel, st);
  return { mtimeMs: st.mtimeMs, size: st.size };
}
