import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

// Trusted build dirs. A baseline is a build of a commit from the mirror: upstream code, not a
// series. Its finished build dir becomes a snapshot that no later build ever writes: every
// build that starts from it (the series on top, the next baseline when the base moves) works
// in a fresh copy, thrown away afterwards. A snapshot is only ever made from a trusted build,
// so nothing a series did can reach another series' result.
//
//   workDir/snapshots/<toolchain>/<commit>-<key>/        the build dir as the baseline left it
//   workDir/snapshots/<toolchain>/<commit>-<key>.json    listci's record of it (written last)
//
// "Cached" means exactly this: both exist. The record lives outside the dir, so no build can
// have written it.

const execFileP = promisify(execFile);

export interface SnapshotMeta {
  toolchain: string;
  commit: string;
  key: string;
  createdAt: string;
  /** How long a build of this toolchain from an empty dir took last: series time limits scale with it. */
  cleanDurationMs: number;
  /** What the baseline build returned (opaque here). */
  result: unknown;
}

export interface Snapshot {
  dir: string;
  meta: SnapshotMeta;
}

export class SnapshotStore {
  constructor(private readonly workDir: string) {}

  private root(toolchain: string): string {
    return join(this.workDir, 'snapshots', toolchain);
  }

  dirOf(toolchain: string, commit: string, key: string): string {
    return join(this.root(toolchain), `${commit}-${key}`);
  }

  find(toolchain: string, commit: string, key: string): Snapshot | null {
    const dir = this.dirOf(toolchain, commit, key);
    const meta = readMeta(`${dir}.json`);
    return meta && existsSync(dir) ? { dir, meta } : null;
  }

  /** Snapshots of this toolchain and configuration, newest first, whatever their commit. */
  candidates(toolchain: string, key: string): Snapshot[] {
    return this.all(toolchain).filter((s) => s.meta.key === key);
  }

  /** Newest first. */
  private all(toolchain: string): Snapshot[] {
    let names: string[];
    try {
      names = readdirSync(this.root(toolchain));
    } catch {
      return [];
    }
    const out: Snapshot[] = [];
    for (const n of names) {
      if (!n.endsWith('.json')) continue;
      const dir = join(this.root(toolchain), n.slice(0, -'.json'.length));
      const meta = readMeta(`${dir}.json`);
      if (meta && existsSync(dir)) out.push({ dir, meta });
    }
    return out.sort((a, b) => b.meta.createdAt.localeCompare(a.meta.createdAt));
  }

  /** Moves a finished trusted build dir into the store; the record is written after the dir is in place. */
  save(buildDir: string, meta: SnapshotMeta): Snapshot {
    const dir = this.dirOf(meta.toolchain, meta.commit, meta.key);
    mkdirSync(dirname(dir), { recursive: true });
    rmSync(`${dir}.json`, { force: true });
    rmSync(dir, { recursive: true, force: true });
    renameSync(buildDir, dir);
    writeFileSync(`${dir}.json.tmp`, JSON.stringify(meta));
    renameSync(`${dir}.json.tmp`, `${dir}.json`);
    return { dir, meta };
  }

  /** Keeps the newest `keep` snapshots of a toolchain (and `keepDir`, in use now); the rest go. */
  evict(toolchain: string, keep: number, keepDir: string): void {
    const all = this.all(toolchain);
    for (const s of all.slice(keep)) {
      if (s.dir === keepDir) continue;
      rmSync(`${s.dir}.json`, { force: true });
      rmSync(s.dir, { recursive: true, force: true });
    }
  }
}

function readMeta(path: string): SnapshotMeta | null {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as SnapshotMeta;
  } catch {
    return null;
  }
}

/**
 * A copy that keeps mtimes (make's view of what is up to date), with reflinks where the file
 * system has them. `to` must not exist. Xen's build dir is 40-60 MB: well under a second.
 */
export async function copyTree(from: string, to: string): Promise<void> {
  mkdirSync(dirname(to), { recursive: true });
  await execFileP('cp', ['-a', '--reflink=auto', '--', from, to], { maxBuffer: 1 << 20 });
}

/** Removes a dir a build wrote; rm never follows the symlinks a series may have left in it. */
export function removeTree(dir: string): void {
  rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
}
