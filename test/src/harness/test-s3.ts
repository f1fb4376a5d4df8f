import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { containersWanted, TEST_IMAGES } from './test-containers.js';

/** An S3 server a test suite talks to: started fresh per suite, with the keys it accepts. */
export interface TestS3 {
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  stop(): Promise<void>;
}

/**
 * s3rver in this process (the default: no engine needed; it takes its own `S3RVER` key only), or,
 * opted in with RECFLEET_TEST_CONTAINERS=s3, SeaweedFS — the S3 server of infra/docker/compose.yaml —
 * through testcontainers (without an identity config it takes any key).
 */
export async function startTestS3(): Promise<TestS3> {
  if (containersWanted('s3')) {
    const { GenericContainer, Wait } = await import('testcontainers');
    const container = await new GenericContainer(TEST_IMAGES.s3)
      .withCommand(['server', '-dir=/data', '-s3', '-s3.port=8333'])
      .withExposedPorts(8333)
      .withWaitStrategy(Wait.forHttp('/', 8333).forStatusCodeMatching(() => true))
      .start();
    return {
      endpoint: `http://${container.getHost()}:${container.getMappedPort(8333)}`,
      accessKeyId: 'recfleet',
      secretAccessKey: 'recfleet-test-secret',
      stop: async () => {
        await container.stop();
      },
    };
  }
  const dir = await mkdtemp(join(tmpdir(), 'recfleet-s3-'));
  // @ts-expect-error s3rver ships no type declarations
  const { default: S3rver } = (await import('s3rver')) as {
    default: new (options: object) => { run(): Promise<{ port: number }>; close(): Promise<void> };
  };
  const server = new S3rver({ address: '127.0.0.1', port: 0, directory: dir, silent: true });
  const { port } = await server.run();
  return {
    endpoint: `http://127.0.0.1:${port}`,
    accessKeyId: 'S3RVER',
    secretAccessKey: 'S3RVER',
    stop: async () => {
      await server.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
