// What every real-Xen bench needs first: Podman's API socket, the Xen tree and the images.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { findSocket } from '../src/build/engine.ts';
import type { ToolchainConfig } from '../src/config/schema.ts';

export const REPO = new URL('..', import.meta.url).pathname;

/** The toolchains the benches know, as listci's config gives them. */
export function benchToolchain(name: string): ToolchainConfig {
  return {
    name,
    image: null,
    cc: name,
    hostcc: null,
    makeArgs: name.startsWith('clang') ? ['clang=y'] : [],
    configFragment: [],
  };
}

/**
 * Starts the Podman service, makes the images, and returns the socket and the Xen tree's
 * path (LISTCI_BENCH_XEN=4.17 measures Debian's 4.17.5 instead of today's tree).
 */
export function xenBenchSetup(images: string[]): { socket: string; xen: string } {
  const socket = findSocket(null);
  execFileSync(join(REPO, 'scripts/start-podman-service.sh'), [socket], { stdio: 'inherit' });
  const xen = execFileSync(join(REPO, 'scripts/get-xen.sh'), [process.env.LISTCI_BENCH_XEN ?? 'master'], {
    encoding: 'utf8',
  })
    .trim()
    .split('\n')
    .pop()!;
  execFileSync(join(REPO, 'scripts/build-images.sh'), images, { stdio: 'inherit', cwd: REPO });
  return { socket, xen };
}
