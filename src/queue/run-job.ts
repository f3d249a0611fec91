import { readFileSync, rmSync } from 'node:fs';
import { isAbsolute, relative, sep } from 'node:path';
import type { Runner } from '../build/runner.ts';
import type { ToolchainConfig } from '../config/schema.ts';
import type { OfferedToolchain, WorkerConfig } from '../config/worker.ts';
import type { BuildReport } from '../contract.ts';
import type { Logger } from '../log.ts';
import { checkOnBase } from '../pipeline/on-base.ts';
import { progressLine } from '../pipeline/progress-line.ts';
import type { SeriesToCheck } from '../series/types.ts';
import { logBytesCap, makeResult, patchesOf, type BuildJobPayload, type BuildJobResult } from './job.ts';
import {
  effectiveToolchain,
  jobConfig,
  jobLogDir,
  ToolchainUnavailable,
  type Mirrors,
  type ToolchainProbe,
} from './worker-host.ts';

// One job on a worker: the series applied on the base the daemon chose, built under one
// toolchain with the same isolation as the daemon's own builds (a trusted baseline snapshot,
// the series in a throw-away copy), and the reports and capped logs sent back.

export interface BuildHost {
  config: WorkerConfig;
  runner: Runner;
  probe: ToolchainProbe;
  mirrors: Mirrors;
  /** The toolchains worker.yaml offers, by name. */
  offered: Map<string, OfferedToolchain>;
  log: Logger;
}

export async function runBuildJob(
  host: BuildHost,
  payload: BuildJobPayload,
  jobId: string,
  signal: AbortSignal,
): Promise<BuildJobResult> {
  const started = new Date();
  const toolchain = effectiveToolchain(payload.toolchain, host.offered.get(payload.toolchain.name));
  const jlog = host.log.child({ job: jobId, run: payload.runId, toolchain: toolchain.name });
  await requireToolchain(host, toolchain);

  const mirror = await host.mirrors.withCommit(
    payload.repoUrl,
    payload.base.commit,
    payload.build.gitTimeoutSeconds * 1000,
    signal,
  );
  const prepared = Date.now();
  const config = jobConfig(host.config, payload, mirror, toolchain);
  const logDir = jobLogDir(host.config.workDir, jobId);
  rmSync(logDir, { recursive: true, force: true });
  const mails = patchesOf(payload);
  const series: SeriesToCheck = {
    title: payload.series.title,
    version: payload.series.version,
    author: payload.series.author,
    tags: [],
    cover: null,
    patches: mails.series,
    missing: [],
  };
  try {
    const out = await checkOnBase({
      config,
      series,
      runner: host.runner,
      mirror,
      decision: { choice: payload.base, prerequisites: mails.prerequisites },
      toolchains: [toolchain],
      logDir,
      log: jlog,
      signal,
      startedAt: started,
      onProgress: (p) => {
        if (p.stage !== 'build' || p.event.state === 'step' || p.event.state === 'queued') return;
        jlog.info({ elapsedS: +(p.elapsedMs / 1000).toFixed(1) }, progressLine(p));
      },
    });
    // A build the signal stopped reports itself as an error build: that is no result to send.
    signal.throwIfAborted();
    // The image went away during the build: the job is retried on a host that has it.
    if (out.builds.some((b) => b.botError)) await requireToolchain(host, toolchain);
    const { builds, logs } = collectLogs(logDir, out.builds, logBytesCap(config.build.logCapKb));
    const finished = new Date();
    return makeResult({
      toolchain: toolchain.name,
      worker: host.config.name,
      apply: out.apply,
      builds,
      logs,
      buildWindow: out.buildWindow,
      timings: {
        startedAt: started.toISOString(),
        finishedAt: finished.toISOString(),
        prepareMs: prepared - started.getTime(),
        checkMs: finished.getTime() - prepared,
      },
    });
  } finally {
    rmSync(logDir, { recursive: true, force: true });
  }
}

async function requireToolchain(host: BuildHost, t: ToolchainConfig): Promise<void> {
  const p = await host.probe.probe(t);
  if ('missing' in p) throw new ToolchainUnavailable(t.name, p.missing, host.config.name);
}

/** The logs under the job's log dir, capped, with each report's logPath made relative to it. */
function collectLogs(
  logDir: string,
  reports: BuildReport[],
  capBytes: number,
): { builds: BuildReport[]; logs: { path: string; data: Buffer }[] } {
  const logs = new Map<string, Buffer>();
  const builds = reports.map((b) => {
    if (!b.logPath) return b;
    const rel = relative(logDir, b.logPath);
    // A cached baseline names the log of the job that built it, long gone from this host.
    if (rel === '' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) return { ...b, logPath: null };
    if (!logs.has(rel)) {
      try {
        logs.set(rel, capped(readFileSync(b.logPath), capBytes));
      } catch {
        return { ...b, logPath: null };
      }
    }
    return { ...b, logPath: rel };
  });
  return { builds, logs: [...logs].map(([path, data]) => ({ path, data })) };
}

/** Head and tail, as the build log cap keeps them (build/log-cap.ts), if still too long. */
function capped(buf: Buffer, capBytes: number): Buffer {
  if (buf.length <= capBytes) return buf;
  const half = Math.floor(capBytes / 2);
  const note = Buffer.from(`\n[listci: ${buf.length - 2 * half} bytes dropped here (log cap)]\n`);
  return Buffer.concat([buf.subarray(0, half), note, buf.subarray(buf.length - half)]);
}
