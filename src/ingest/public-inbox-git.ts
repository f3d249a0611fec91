// The git side of a public-inbox source: which epochs the archive has, a local mirror of
// each, the commits not walked yet, and the raw mail each commit carries (blob `m`).
// git runs as a plain child process: mails are bytes, and simple-git hands back strings.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';

export interface Epoch {
  n: number;
  /** Where `git fetch` reads it: `URL/git/N.git`, or the local inbox's directory. */
  url: string;
  /** sha1 of its refs (public-inbox's manifest): unchanged means nothing to fetch. */
  fingerprint: string | null;
  /** Unix time of its newest commit, when the archive says. */
  modified: number | null;
}

/** The time limit, and the daemon stopping: a first clone from lore can take minutes. */
function limit(timeoutMs: number, signal: AbortSignal | undefined): AbortSignal {
  const t = AbortSignal.timeout(timeoutMs);
  return signal ? AbortSignal.any([t, signal]) : t;
}

export const isRemote = (url: string): boolean => /^https?:\/\//i.test(url);

/** lore's manifest for one list is a few KB; a body this large is not one. */
const MAX_MANIFEST_BYTES = 16 * 1024 * 1024;

/**
 * The archive's epochs, oldest first. Over HTTP from `manifest.js.gz`, as
 * public-inbox-fetch and grokmirror read it; for a local inbox from its `git/` directory.
 */
export async function listEpochs(url: string, timeoutMs: number, signal?: AbortSignal): Promise<Epoch[]> {
  if (!isRemote(url)) return localEpochs(url);
  const base = url.endsWith('/') ? url : `${url}/`;
  const res = await fetch(new URL('manifest.js.gz', base), { signal: limit(timeoutMs, signal) });
  if (!res.ok) throw new Error(`${base}manifest.js.gz: HTTP ${res.status}`);
  let body = Buffer.from(await res.arrayBuffer());
  if (body.length > MAX_MANIFEST_BYTES)
    throw new Error(
      `${base}manifest.js.gz: ${body.length} bytes, over ${MAX_MANIFEST_BYTES}: not a manifest`,
    );
  // Served as a gzip file; a proxy that set Content-Encoding has had it unpacked by fetch.
  if (body[0] === 0x1f && body[1] === 0x8b) {
    try {
      body = gunzipSync(body, { maxOutputLength: MAX_MANIFEST_BYTES });
    } catch (e) {
      throw new Error(
        `${base}manifest.js.gz: does not unpack within ${MAX_MANIFEST_BYTES} bytes: ${(e as Error).message}`,
      );
    }
  }
  const manifest = JSON.parse(body.toString('utf8')) as Record<
    string,
    { fingerprint?: unknown; modified?: unknown }
  >;
  const out: Epoch[] = [];
  for (const [path, info] of Object.entries(manifest)) {
    const m = /\/git\/(\d+)\.git$/.exec(path);
    if (!m) continue;
    // The archive names its epochs; it does not get to send the mirror elsewhere (another
    // host, a file: URL on this machine).
    const url = new URL(path, base);
    if (url.origin !== new URL(base).origin) continue;
    out.push({
      n: Number(m[1]),
      url: url.href,
      fingerprint: typeof info.fingerprint === 'string' ? info.fingerprint : null,
      modified: typeof info.modified === 'number' ? info.modified : null,
    });
  }
  // An archive with no mail yet lists none: nothing to read, not an error.
  return out.sort((a, b) => a.n - b.n);
}

function localEpochs(dir: string): Epoch[] {
  const gitDir = join(dir, 'git');
  if (!existsSync(gitDir)) throw new Error(`${dir}: no git/ directory: not a public-inbox v2 inbox`);
  return readdirSync(gitDir)
    .flatMap((name) => {
      const m = /^(\d+)\.git$/.exec(name);
      if (!m) return [];
      const url = join(gitDir, name);
      return [{ n: Number(m[1]), url, fingerprint: null, modified: statSync(url).mtimeMs / 1000 }];
    })
    .sort((a, b) => a.n - b.n);
}

export interface GitResult {
  code: number;
  stdout: Buffer;
  stderr: string;
}

/** Runs git in `dir` with listci's minimal environment (no GIT_DIR or the like leaks in). */
export function gitIn(
  dir: string,
  args: string[],
  opts: { input?: Buffer; timeoutMs: number; check?: boolean; signal?: AbortSignal },
): Promise<GitResult> {
  const env: Record<string, string> = { LC_ALL: 'C', GIT_TERMINAL_PROMPT: '0', GIT_CONFIG_NOSYSTEM: '1' };
  for (const k of ['PATH', 'HOME', 'http_proxy', 'https_proxy', 'no_proxy', 'HTTPS_PROXY', 'NO_PROXY'])
    if (process.env[k] !== undefined) env[k] = process.env[k]!;
  return new Promise((resolve, reject) => {
    const child = spawn('git', ['-c', 'gc.auto=0', ...args], {
      cwd: dir,
      env,
      stdio: ['pipe', 'pipe', 'pipe'],
      signal: limit(opts.timeoutMs, opts.signal),
    });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => (err = (err + b.toString()).slice(-4000)));
    child.on('error', (e) => reject(new Error(`git ${args[0]} in ${dir}: ${e.message}`)));
    child.on('close', (code) => {
      const r = { code: code ?? -1, stdout: Buffer.concat(out), stderr: err };
      if (opts.check !== false && r.code !== 0)
        reject(new Error(`git ${args.join(' ')} in ${dir}: exit ${r.code}: ${err.trim()}`));
      else resolve(r);
    });
    child.stdin.on('error', () => {}); // git exiting early is reported by its exit code
    child.stdin.end(opts.input ?? Buffer.alloc(0));
  });
}

/** Fetches one epoch into its bare mirror; a rewritten history (a purge) is taken as it is. */
export async function fetchEpoch(
  mirror: string,
  url: string,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<void> {
  if (!existsSync(join(mirror, 'HEAD'))) {
    mkdirSync(mirror, { recursive: true });
    await gitIn(mirror, ['init', '--quiet', '--bare'], { timeoutMs });
  }
  await gitIn(mirror, ['fetch', '--quiet', '--force', '--no-tags', url, '+refs/heads/*:refs/heads/*'], {
    timeoutMs,
    ...(signal ? { signal } : {}),
  });
}

/** The epoch's branch (public-inbox writes `master`), or null while it has no commit. */
export async function headOf(mirror: string, timeoutMs: number): Promise<string | null> {
  const r = await gitIn(mirror, ['for-each-ref', '--format=%(refname) %(objectname)', 'refs/heads/'], {
    timeoutMs,
  });
  const refs = r.stdout.toString().trim().split('\n').filter(Boolean);
  const line = refs.find((l) => l.startsWith('refs/heads/master ')) ?? refs[0];
  return line ? line.split(' ')[1]! : null;
}

export interface NewCommits {
  /** Oldest first. */
  commits: string[];
  /** The last walked commit is no longer in the history: the epoch was rewritten. */
  rewritten: boolean;
}

/**
 * Commits of `head` not walked yet. After a rewrite, `head ^last` is exactly the rewritten
 * part and what came after it, as long as the mirror still has the old commit (fetch keeps
 * it, gc is off); without it, the whole epoch. Mail already stored is a duplicate by its
 * Message-ID, so walking too much costs time, never a second copy.
 */
export async function newCommits(
  mirror: string,
  head: string,
  last: string | null,
  since: string | null,
  timeoutMs: number,
): Promise<NewCommits> {
  if (last === head) return { commits: [], rewritten: false };
  let range = [head];
  let rewritten = false;
  if (last !== null) {
    const known = await gitIn(mirror, ['cat-file', '-e', `${last}^{commit}`], { timeoutMs, check: false });
    if (known.code === 0) {
      const ff = await gitIn(mirror, ['merge-base', '--is-ancestor', last, head], {
        timeoutMs,
        check: false,
      });
      rewritten = ff.code !== 0;
      range = [head, `^${last}`];
    } else rewritten = true;
  } else if (since !== null) range = [`--since=${since}`, head];
  const r = await gitIn(mirror, ['rev-list', '--reverse', ...range], { timeoutMs });
  return { commits: r.stdout.toString().split('\n').filter(Boolean), rewritten };
}

/**
 * The mail of each commit, in order: null for a commit without one (a deletion writes `d`,
 * a purge leaves an empty `m`).
 */
export async function readMails(
  mirror: string,
  commits: string[],
  timeoutMs: number,
): Promise<(Buffer | null)[]> {
  if (!commits.length) return [];
  const input = Buffer.from(commits.map((c) => `${c}:m\n`).join(''));
  const { stdout } = await gitIn(mirror, ['cat-file', '--batch'], { input, timeoutMs });
  const out: (Buffer | null)[] = [];
  let at = 0;
  for (let i = 0; i < commits.length; i++) {
    const nl = stdout.indexOf(0x0a, at);
    if (nl < 0) throw new Error(`git cat-file --batch: output ends after ${i} of ${commits.length} objects`);
    const header = stdout.subarray(at, nl).toString();
    at = nl + 1;
    const m = /^[0-9a-f]+ (\w+) (\d+)$/.exec(header);
    if (!m) {
      out.push(null); // "<commit>:m missing"
      continue;
    }
    const size = Number(m[2]);
    const body = stdout.subarray(at, at + size);
    at += size + 1;
    out.push(m[1] === 'blob' && size > 0 ? Buffer.from(body) : null);
  }
  return out;
}
