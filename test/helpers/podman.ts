// Real Podman through its Docker Engine API socket (the same dockerode code path Docker uses).
// The setup scripts are idempotent: they start the service and build missing images. If podman is
// not installed, a test that needs it FAILS with the command to run; it never skips.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { findSocket } from '../../src/build/engine.ts';

const repo = new URL('../..', import.meta.url).pathname;

/** The engine socket, with the service running and the toolchain images built. */
export function podmanReady(images: string[] = ['gcc-12', 'clang-14']): string {
  const socket = findSocket(process.env.LISTCI_TEST_SOCKET ?? null);
  if (!existsSync('/usr/bin/podman')) {
    throw new Error(
      'podman is not installed: run scripts/setup-test-env.sh (apt-get install podman runc debootstrap)',
    );
  }
  try {
    execFileSync(`${repo}scripts/start-podman-service.sh`, [socket], { stdio: 'pipe' });
    execFileSync(`${repo}scripts/build-images.sh`, images, { stdio: 'pipe', cwd: repo });
  } catch (e) {
    const err = e as { stderr?: Buffer; message: string };
    throw new Error(
      `container setup failed: ${err.stderr?.toString() ?? err.message}\n` +
        `run: scripts/start-podman-service.sh ${socket} && scripts/build-images.sh`,
    );
  }
  return socket;
}
