import { spawnSync } from 'node:child_process';

/**
 * Opting in to testcontainers: RECFLEET_TEST_CONTAINERS lists what the suites start as containers
 * (`redis`, `s3`, comma-separated, or `all`) where a Docker engine answers. Unset — the default — every
 * suite starts the local binaries (`redis-server`, s3rver), which need no engine.
 */
export type ContainerKind = 'redis' | 's3';

/** The images, pinned as the compose file pins them (infra/docker/compose.yaml). */
export const TEST_IMAGES: Record<ContainerKind, string> = {
  redis: 'redis:7.4.2-alpine',
  s3: 'chrislusf/seaweedfs:3.80',
};

export function containersWanted(kind: ContainerKind, env: NodeJS.ProcessEnv = process.env): boolean {
  const wanted = (env.RECFLEET_TEST_CONTAINERS ?? '')
    .split(',')
    .map((w) => w.trim())
    .filter(Boolean);
  if (!wanted.includes(kind) && !wanted.includes('all')) return false;
  // Asked for and unavailable is an error, not a silent fall-back: the run would not be what was asked.
  const engine = spawnSync('docker', ['info', '--format', '{{.ServerVersion}}'], {
    encoding: 'utf8',
    timeout: 5000,
  });
  if (engine.status !== 0 || engine.stdout.trim() === '') {
    throw new Error(
      `RECFLEET_TEST_CONTAINERS asks for ${kind} as a container, but no Docker engine answers ` +
        '(`docker info` failed); unset it to use the local binaries',
    );
  }
  return true;
}
