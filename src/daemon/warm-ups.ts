import type { Config } from '../config/load.ts';
import type { Runner } from '../build/runner.ts';
import { ensureMirror, fetchMirror, maintainMirror, type MirrorConfig } from '../git/mirror.ts';
import { gitTry } from '../git/run.ts';
import type { Logger } from '../log.ts';
import { toolchainsToWarm, warmUp } from '../pipeline/warm-up.ts';

// While no check waits, the daemon fetches the mirror when it is due (and prunes it once a
// day), and builds the trusted baseline of every watched branch head that has none yet, so
// that the next series on a moved staging finds its base built. It keeps no queue of its own: what to warm is read from the
// mirror and the snapshot store each time, so a restart loses nothing and doubles nothing.

export interface WarmUpDeps {
  config: Config;
  runner: Runner;
  mirror: MirrorConfig;
  log: Logger;
  /** Branches series used as their base lately (branchMap targets): watched too. */
  recentRefs: () => string[];
}

/** A commit whose warm-up failed is not tried again for this long (a broken staging). */
const RETRY_FAILED_MS = 6 * 3600_000;
const RESCAN_MS = 15_000;
const MAINTAIN_MS = 24 * 3600_000;

export class WarmUps {
  private fetchBlockedUntil = 0;
  private lastScan = 0;
  private maintainedAt = Date.now();
  /** The last step built something: look again at once (another head may need it). */
  private again = true;
  private readonly failedAt = new Map<string, number>();

  constructor(private readonly deps: WarmUpDeps) {}

  /** The branches whose heads are kept warm: the default, the fallbacks, the recent bases. */
  watched(): string[] {
    const { repo } = this.deps.config;
    return [...new Set([repo.defaultBranch, ...repo.fallbackBranches, ...this.deps.recentRefs()])];
  }

  /**
   * One idle step: fetch if due, then warm one branch head. Returns true when it built
   * something (the daemon then looks for checks again before the next step).
   */
  async step(shouldYield: () => boolean, signal?: AbortSignal): Promise<boolean> {
    const { config, runner, mirror, log } = this.deps;
    const fetched = await this.fetchIfDue(signal);
    if (!config.repo.warmUp || runner.kind === 'local') return false;
    // Heads move by a fetch, ours or a check's; between fetches a look now and then is enough.
    if (!fetched && !this.again && Date.now() - this.lastScan < RESCAN_MS) return false;
    this.lastScan = Date.now();
    this.again = false;
    for (const branch of this.watched()) {
      const commit = await this.head(branch, signal);
      if (commit === null) continue;
      const failed = this.failedAt.get(commit);
      if (failed !== undefined && Date.now() - failed < RETRY_FAILED_MS) continue;
      const todo = await toolchainsToWarm(config, runner, commit, config.build.toolchains);
      if (todo.length === 0) continue;
      const started = Date.now();
      log.info(
        { branch, commit, toolchains: todo.map((t) => t.name) },
        'warming the baseline of a moved branch',
      );
      const out = await warmUp({
        config,
        runner,
        mirror,
        commit,
        toolchains: todo,
        log,
        shouldYield,
        signal,
      });
      this.again = true;
      if (out.built.some((b) => b.status === 'error' || b.status === 'timeout'))
        this.failedAt.set(commit, Date.now());
      log.info(
        {
          branch,
          commit,
          built: out.built.map((b) => `${b.toolchain} ${b.status} ${(b.durationMs / 1000).toFixed(1)} s`),
          yielded: out.yielded,
          elapsedMs: Date.now() - started,
        },
        out.yielded.length ? 'warm-up yielded to a check' : 'baseline warm',
      );
      return out.built.length > 0;
    }
    return false;
  }

  /** true when a fetch ran. */
  private async fetchIfDue(signal?: AbortSignal): Promise<boolean> {
    if (Date.now() < this.fetchBlockedUntil) return false;
    const { config, mirror, log } = this.deps;
    try {
      const created = await ensureMirror(mirror, { signal, timeoutMs: config.repo.gitTimeoutSeconds * 1000 });
      const r = await fetchMirror(mirror, {
        maxAgeSeconds: config.repo.fetchIntervalMinutes * 60,
        timeoutMs: config.repo.gitTimeoutSeconds * 1000,
        signal,
      });
      if (Date.now() - this.maintainedAt > MAINTAIN_MS) {
        // Objects of series checked long ago, and worktrees deleted by hand, go once a day.
        this.maintainedAt = Date.now();
        await maintainMirror(mirror, { signal, timeoutMs: config.repo.gitTimeoutSeconds * 1000 });
      }
      return created || r.fetched;
    } catch (e) {
      if (signal?.aborted) return false;
      // The next check still runs on the last good mirror; try again after an interval.
      this.fetchBlockedUntil = Date.now() + config.repo.fetchIntervalMinutes * 60_000;
      log.warn({ err: e }, 'mirror fetch failed; warm-ups use the last good mirror');
      return false;
    }
  }

  private async head(branch: string, signal?: AbortSignal): Promise<string | null> {
    const r = await gitTry(
      this.deps.mirror.path,
      ['rev-parse', '--verify', '-q', `refs/heads/${branch}^{commit}`],
      { signal },
    );
    return r.ok ? r.out.trim() : null;
  }
}
