// The build suite against real Podman through its Docker Engine API socket.
import { ContainerRunner } from '../../src/build/engine.ts';
import { imageFor } from '../../src/build/toolchain-build.ts';
import { podmanReady } from '../helpers/podman.ts';
import { runnerSuite, toolchain } from './suite.ts';

const socket = podmanReady();

runnerSuite(
  `podman via ${socket}`,
  () => new ContainerRunner({ socketPath: socket }),
  [toolchain('gcc-12', 'gcc-12', null), toolchain('clang-14', 'clang-14', null)],
  imageFor,
  true,
);
