// Real Podman through its Docker Engine API socket (the same dockerode code path Docker uses).
// The setup scripts are idempotent: they start the service and build missing images. If podman is
// not installed the suite FAILS with the command to run; it never skips.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { ContainerRunner, findSocket } from '../../src/build/engine.ts';
import { imageFor } from '../../src/build/matrix.ts';
import { runnerSuite, toolchain } from './suite.ts';

const repo = new URL('../..', import.meta.url).pathname;
const socket = findSocket(process.env.LISTCI_TEST_SOCKET ?? null);

function setup(): void {
  if (!existsSync('/usr/bin/podman')) {
    throw new Error(
      'podman is not installed: run scripts/setup-test-env.sh (apt-get install podman runc debootstrap)',
    );
  }
  try {
    execFileSync(`${repo}scripts/start-podman-service.sh`, [socket], { stdio: 'pipe' });
    execFileSync(`${repo}scripts/build-images.sh`, ['gcc-12', 'clang-14'], { stdio: 'pipe', cwd: repo });
  } catch (e) {
    const err = e as { stderr?: Buffer; message: string };
    throw new Error(
      `container setup failed: ${err.stderr?.toString() ?? err.message}\n` +
        `run: scripts/start-podman-service.sh ${socket} && scripts/build-images.sh`,
    );
  }
}
setup();

runnerSuite(
  `podman via ${socket}`,
  () => new ContainerRunner({ socketPath: socket }),
  [toolchain('gcc-12', 'gcc-12', null), toolchain('clang-14', 'clang-14', null)],
  imageFor,
  true,
);
