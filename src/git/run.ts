import { simpleGit, type SimpleGit } from 'simple-git';

const ALLOWED_ENV = [
  'GIT_COMMITTER_NAME',
  'GIT_COMMITTER_EMAIL',
  'GIT_TERMINAL_PROMPT',
  'GIT_CONFIG_NOSYSTEM',
  'GIT_CONFIG_GLOBAL',
] as const;

/** The identity of every commit listci makes; authors and dates come from the mails. */
export const COMMITTER = { name: 'listci', email: 'listci@localhost' } as const;

export interface GitCallOptions {
  /** Cancels the running git process (job cancelled, daemon shutting down). */
  signal?: AbortSignal | undefined;
  /** Kill git after this long without output (simple-git's rolling block timeout). */
  timeoutMs?: number | undefined;
  /** Bytes fed to git's stdin: how mail reaches `git am`, never through an argument. */
  input?: Buffer | undefined;
}

/**
 * One simple-git instance per call, so stdin, signal and timeout belong to that call only.
 * The ambient GIT_* environment is dropped (simple-git's guard) so a GIT_DIR or GIT_INDEX_FILE
 * inherited from a hook or a developer shell can never point listci at the wrong repository.
 * gc.auto=0: a background gc racing an `am` in another worktree of the same mirror is the kind
 * of surprise a CI bot should not have; the mirror is maintained explicitly (mirror.ts).
 */
export function git(dir: string, opts: GitCallOptions = {}): SimpleGit {
  const g = simpleGit({
    baseDir: dir,
    trimmed: false,
    maxConcurrentProcesses: 1,
    config: ['gc.auto=0', 'core.logAllRefUpdates=false', 'advice.detachedHead=false'],
    allowEnvironment: [...ALLOWED_ENV],
    // Only for GIT_CONFIG_GLOBAL=/dev/null, a value listci sets itself.
    unsafe: { allowUnsafeConfigPaths: true },
    ...(opts.signal ? { abort: opts.signal } : {}),
    ...(opts.timeoutMs ? { timeout: { block: opts.timeoutMs } } : {}),
    ...(opts.input ? { input: () => opts.input } : {}),
    // git am prints CONFLICT lines on stdout and "Patch failed" on stderr: keep both in the error.
    errors: (error, result) => {
      if (result.exitCode === 0 || error instanceof Error) return error;
      return Buffer.concat([...result.stdOut, ...result.stdErr]);
    },
  });
  return g.env({
    ...cleanEnv(),
    GIT_COMMITTER_NAME: COMMITTER.name,
    GIT_COMMITTER_EMAIL: COMMITTER.email,
    GIT_TERMINAL_PROMPT: '0',
  });
}

function cleanEnv(): Record<string, string> {
  // A minimal environment: LC_ALL=C because git's messages are parsed (conflicts, corrupt
  // patch); proxies pass so an https mirror works behind one; nothing else leaks in.
  const out: Record<string, string> = { LC_ALL: 'C', LANG: 'C' };
  for (const k of [
    'PATH',
    'HOME',
    'TMPDIR',
    'http_proxy',
    'https_proxy',
    'no_proxy',
    'HTTPS_PROXY',
    'NO_PROXY',
  ]) {
    const v = process.env[k];
    if (v !== undefined) out[k] = v;
  }
  // The user's gitconfig may set am.threeWay, hook paths, signing: results must not depend on it.
  out.GIT_CONFIG_NOSYSTEM = '1';
  out.GIT_CONFIG_GLOBAL = '/dev/null';
  return out;
}

/** Runs git and returns stdout; throws GitError with git's stderr on a non-zero exit. */
export async function gitRaw(dir: string, args: string[], opts: GitCallOptions = {}): Promise<string> {
  return git(dir, opts).raw(args);
}

/** Like gitRaw, but a failure is data: exit status and git's words, for commands expected to fail. */
export async function gitTry(
  dir: string,
  args: string[],
  opts: GitCallOptions = {},
): Promise<{ ok: boolean; out: string; err: string }> {
  try {
    const out = await gitRaw(dir, args, opts);
    return { ok: true, out, err: '' };
  } catch (e) {
    if (opts.signal?.aborted) throw e;
    const msg = e instanceof Error ? e.message : String(e);
    if (/block timeout reached/.test(msg)) throw new GitTimeoutError(args, opts.timeoutMs ?? 0);
    return { ok: false, out: '', err: msg };
  }
}

export class GitTimeoutError extends Error {
  constructor(args: string[], ms: number) {
    super(`git ${args[0] ?? ''} made no progress for ${Math.round(ms / 1000)} s and was killed`);
    this.name = 'GitTimeoutError';
  }
}

/** A ref or sha safe to put on a git command line: never an option, never whitespace. */
export function isSafeRev(rev: string): boolean {
  return /^[A-Za-z0-9_][A-Za-z0-9._/^~@{}-]*$/.test(rev) && !rev.includes('..') && rev.length <= 250;
}

/** `rev^{commit}` as a full sha, or null when it does not name a commit in `repo`. */
export async function resolveCommit(
  repo: string,
  rev: string,
  opts: GitCallOptions = {},
): Promise<string | null> {
  if (!isSafeRev(rev)) return null;
  const r = await gitTry(repo, ['rev-parse', '--verify', '--quiet', `${rev}^{commit}`], opts);
  const sha = r.out.trim();
  return r.ok && /^[0-9a-f]{40,64}$/.test(sha) ? sha : null;
}
