import { realpathSync } from 'node:fs';
import { isAbsolute, relative, resolve } from 'node:path';

/**
 * The file a build's log_path names, if it really lies under the work dir. The path comes
 * from the database, but a symlink or "../" in it must not turn the log endpoint into a
 * file server for the whole machine. Returns null when it does not resolve under workDir.
 */
export function resolveLogPath(workDir: string, logPath: string): string | null {
  let root: string;
  let file: string;
  try {
    root = realpathSync(workDir);
    file = realpathSync(isAbsolute(logPath) ? logPath : resolve(workDir, logPath));
  } catch {
    return null; // missing file or work dir
  }
  const rel = relative(root, file);
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) return null;
  return file;
}
