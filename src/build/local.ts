import { spawn } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../log.ts';
import { CappedLog } from './log-cap.ts';
import { botFailure, type Mount, type RunOutcome, type RunSpec, type Runner } from './runner.ts';

/**
 * Runs build steps as host processes. NO isolation: the patch's Makefiles run with the bot's
 * network, file system and memory. Only for trusted trees (the demo, a contributor's own branch),
 * and only when the config says `build.runner: local`. Limits kept: wall-clock timeout (the
 * whole process group is killed) and the log cap. The image is ignored; the host's compilers run.
 */
export class LocalRunner implements Runner {
  readonly kind = 'local' as const;
  readonly isolated = false;

  constructor(log?: Logger) {
    log?.warn(
      'build.runner is local: builds run on the host without isolation (no network, memory or read-only limits)',
    );
  }

  pathIn(mount: Mount): string {
    return mount.hostPath;
  }

  run(spec: RunSpec): Promise<RunOutcome> {
    const started = Date.now();
    if (spec.signal?.aborted) return Promise.resolve(botFailure('build aborted before it started'));
    const [cmd, ...args] = spec.argv;
    if (!cmd) return Promise.resolve(botFailure('empty argv'));
    const log = new CappedLog(spec.logPath, spec.logCapBytes);
    const pidFiles = spec.mounts.filter((m) => !m.readOnly).map((m) => join(m.hostPath, PID_FILE));
    for (const f of pidFiles) killLeftover(f);
    return new Promise((resolve) => {
      // A minimal environment, not the bot's: only a PATH to find the host's tools, plus the recipe's.
      const env = { PATH: '/usr/local/bin:/usr/bin:/bin', LC_ALL: 'C.UTF-8', ...spec.env };
      const child = spawn(cmd, args, {
        cwd: spec.workdir,
        env,
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      // A listci killed with -9 cannot kill this group; the next build in the same dir does.
      for (const f of pidFiles) {
        try {
          if (child.pid) writeFileSync(f, String(child.pid));
        } catch {
          /* no build dir to mark: nothing to clean up later either */
        }
      }
      let timedOut = false;
      let aborted = false;
      let spawnError: string | null = null;
      const killGroup = (): void => {
        try {
          if (child.pid) process.kill(-child.pid, 'SIGKILL');
        } catch {
          /* already gone */
        }
      };
      const timer = setTimeout(() => {
        timedOut = true;
        killGroup();
      }, spec.limits.timeoutMs);
      const onAbort = (): void => {
        aborted = true;
        killGroup();
      };
      spec.signal?.addEventListener('abort', onAbort, { once: true });
      child.stdout.on('data', (b: Buffer) => log.write(b));
      child.stderr.on('data', (b: Buffer) => log.write(b));
      child.on('error', (e) => {
        spawnError = `cannot run ${cmd}: ${e.message}`;
      });
      child.on('close', (code) => {
        clearTimeout(timer);
        spec.signal?.removeEventListener('abort', onAbort);
        // make may leave grandchildren behind when it is killed; take the whole group down.
        killGroup();
        for (const f of pidFiles) rmSync(f, { force: true });
        if (timedOut)
          log.write(`\n[listci: killed after the time limit of ${spec.limits.timeoutMs / 1000} s]\n`);
        log.close();
        resolve({
          exitCode: timedOut || aborted || spawnError ? null : code,
          timedOut,
          oomKilled: false,
          durationMs: Date.now() - started,
          botError: spawnError ?? (aborted ? 'build aborted' : null) ?? log.writeError,
          logTruncated: log.truncated,
        });
      });
    });
  }
}

const PID_FILE = '.listci-build.pid';

/** Kills the process group a killed listci left running in this build dir, if any. */
function killLeftover(pidFile: string): void {
  let pgid: number;
  try {
    pgid = Number(readFileSync(pidFile, 'utf8').trim());
  } catch {
    return;
  }
  if (Number.isInteger(pgid) && pgid > 1) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  rmSync(pidFile, { force: true });
}
