// A real redis-server for the queue's tests (BullMQ needs Redis itself, not a fake): Debian
// 12's redis-server 7.0, installed by scripts/setup-test-env.sh, one per test file, on a free
// loopback port with its own temp dir. The tests stop, kill and restart it under the daemon
// and the workers, so restart() comes back on the same port and URL.
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './ports.ts';

const run = promisify(execFile);

export interface TestRedis {
  host: string;
  port: number;
  /** redis://127.0.0.1:PORT, what `queue.url` takes. */
  url: string;
  /** The server's own dir: redis.conf, redis.log, and the append-only files when persistent. */
  dir: string;
  logFile: string;
  /** The running server's pid, or null while it is stopped or killed. */
  pid(): number | null;
  /** `redis-cli -p PORT ARGS...`, its stdout without the trailing newline. */
  cli(...args: string[]): Promise<string>;
  /** SIGTERM and wait, then start it again: same port, same dir, same URL. */
  restart(): Promise<void>;
  /** SIGKILL, as a crashed or OOM-killed Redis; restart() brings it back. */
  kill9(): Promise<void>;
  /** Stops it (if running) and removes its dir. */
  stop(): Promise<void>;
}

export interface RedisOptions {
  /**
   * Keep the data across restart() and kill9(): the append-only file with an fsync per write
   * (`appendfsync always`), so that a write Redis acknowledged survives even SIGKILL. Off by
   * default (`save ""`, `appendonly no`): a restart then comes back empty.
   */
  persist?: boolean;
  /** More redis.conf lines, e.g. `maxmemory 64mb`. */
  config?: string[];
}

const HOST = '127.0.0.1';
const READY_MS = 15_000;
const STOP_MS = 5_000;

/** Why the Redis tests cannot run here, or null. */
export function redisMissing(): string | null {
  for (const bin of ['redis-server', 'redis-cli']) {
    try {
      execFileSync(bin, ['--version'], { stdio: 'ignore' });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT')
        return `${bin} is not installed: run scripts/setup-test-env.sh (as root it installs Debian's redis-server)`;
    }
  }
  return null;
}

export async function startRedis(opts: RedisOptions = {}): Promise<TestRedis> {
  const missing = redisMissing();
  if (missing) throw new Error(missing);
  const dir = mkdtempSync(join(tmpdir(), 'listci-redis-'));
  const logFile = join(dir, 'redis.log');
  let proc: ChildProcess | null = null;
  // A test that dies without stop() must not leave a server behind.
  const onExit = (): void => void proc?.kill('SIGKILL');
  process.once('exit', onExit);
  try {
    const port = await freePort();
    const conf = writeConfig(dir, port, logFile, opts);
    const start = async (): Promise<void> => {
      // Between a stop and this start another socket may briefly hold the port (an outgoing
      // connection's ephemeral port): retry the bind for a moment before giving up.
      for (let attempt = 1; ; attempt++) {
        const from = existsSync(logFile) ? statSync(logFile).size : 0;
        const p = spawn('redis-server', [conf], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
        let stderr = '';
        p.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
        proc = p;
        try {
          await waitForPong(port, p, () => stderr + logSince(logFile, from));
          return;
        } catch (err) {
          proc = null;
          if (p.exitCode === null && p.signalCode === null) await halt(p, 'SIGKILL');
          if (attempt < 20 && /Address already in use/i.test(logSince(logFile, from) + stderr)) {
            await sleep(100);
            continue;
          }
          throw err;
        }
      }
    };
    const stopProc = async (signal: NodeJS.Signals): Promise<void> => {
      const p = proc;
      proc = null;
      if (p) await halt(p, signal);
    };
    await start();
    let removed = false;
    return {
      host: HOST,
      port,
      url: `redis://${HOST}:${port}`,
      dir,
      logFile,
      pid: () => (proc as ChildProcess | null)?.pid ?? null,
      cli: async (...args) => {
        const { stdout } = await run('redis-cli', ['-h', HOST, '-p', String(port), ...args]);
        return stdout.replace(/\n$/, '');
      },
      restart: async () => {
        await stopProc('SIGTERM');
        await start();
      },
      kill9: () => stopProc('SIGKILL'),
      stop: async () => {
        if (removed) return;
        removed = true;
        try {
          await stopProc('SIGTERM');
        } finally {
          process.removeListener('exit', onExit);
          rmSync(dir, { recursive: true, force: true });
        }
      },
    };
  } catch (err) {
    const p = proc as ChildProcess | null;
    if (p && p.exitCode === null) p.kill('SIGKILL');
    process.removeListener('exit', onExit);
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

function writeConfig(dir: string, port: number, logFile: string, opts: RedisOptions): string {
  const persistence = opts.persist
    ? ['save ""', 'appendonly yes', 'appendfsync always', 'appenddirname appendonly']
    : ['save ""', 'appendonly no'];
  const lines = [
    '# Written by test/helpers/redis.ts: one test server, loopback only.',
    `port ${port}`,
    `bind ${HOST}`,
    'protected-mode yes',
    'daemonize no',
    `dir ${dir}`,
    `logfile ${logFile}`,
    'loglevel notice',
    // What BullMQ requires: a queue whose keys Redis may evict loses jobs.
    'maxmemory-policy noeviction',
    ...persistence,
    ...(opts.config ?? []),
  ];
  const path = join(dir, 'redis.conf');
  writeFileSync(path, lines.join('\n') + '\n');
  return path;
}

/** SIGTERM makes Redis flush the append-only file (when on) and exit; SIGKILL is a crash. */
async function halt(p: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => p.once('exit', () => resolve()));
  p.kill(signal);
  const timer = setTimeout(() => p.kill('SIGKILL'), STOP_MS);
  await exited;
  clearTimeout(timer);
}

/**
 * Ready means PING answers +PONG over a raw RESP connection, not just that the port is open:
 * while Redis loads its append-only file it accepts connections and answers -LOADING.
 */
async function waitForPong(port: number, proc: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + READY_MS;
  let last = '';
  for (;;) {
    if (proc.exitCode !== null || proc.signalCode !== null)
      throw new Error(
        `redis-server exited (${proc.exitCode ?? proc.signalCode}) before answering PING:\n${log()}`,
      );
    last = await ping(port).catch((e: Error) => e.message);
    if (last === '+PONG') return;
    if (Date.now() > deadline)
      throw new Error(`redis-server on ${HOST}:${port} did not answer PING within 15 s (${last}):\n${log()}`);
    await sleep(25);
  }
}

function ping(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host: HOST, port });
    let reply = '';
    const timer = setTimeout(() => sock.destroy(new Error('no reply to PING')), 1000);
    sock.once('connect', () => sock.write('*1\r\n$4\r\nPING\r\n'));
    sock.on('data', (b: Buffer) => {
      reply += b.toString();
      if (reply.includes('\r\n')) {
        clearTimeout(timer);
        sock.end();
        resolve(reply.split('\r\n')[0]!);
      }
    });
    sock.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    sock.once('close', () => {
      clearTimeout(timer);
      reject(new Error('connection closed before a reply'));
    });
  });
}

/** The last lines this start wrote to the log (the file keeps every start's lines). */
function logSince(file: string, offset: number): string {
  if (!existsSync(file)) return '';
  return readFileSync(file).subarray(offset).toString('utf8').split('\n').slice(-30).join('\n');
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
