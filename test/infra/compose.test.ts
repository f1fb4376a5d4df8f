/**
 * infra/docker/compose.yaml without a Docker engine (none runs here): the file against the Compose
 * Specification's JSON Schema (fixtures/compose-spec.json, compose-spec/compose-spec schema/compose-spec.json
 * at 170098ba, version 6.15.0), its images pinned, the files its commands name built and copied into
 * the images; then a rehearsal on this host of what `docker compose up` runs — the bucket creation, the
 * channel server, the test publisher, the worker with the compose worker config and the `recfleet
 * start` service, each with the compose file's own command and environment, service host names mapped
 * to local ports — which must record the test channel into the bucket. What the rehearsal cannot show:
 * the images building, container networking, SeaweedFS itself (s3rver stands in for it, unless
 * RECFLEET_TEST_CONTAINERS=s3 starts SeaweedFS through testcontainers where an engine runs).
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { userStreamName } from '@recfleet/contract';
import { freePort, ManagedProcess } from '@recfleet/embedded';
import { S3Storage } from '@recfleet/storage';
import { Ajv } from 'ajv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { decodePlaylist } from '../src/harness/media-check.js';
import { runNode } from '../src/harness/run-node.js';
import { startTestS3, type TestS3 } from '../src/harness/test-s3.js';
import { startTestRedis, type TestRedis } from '../src/harness/test-redis.js';

const root = new URL('../../', import.meta.url).pathname;
const composeDir = join(root, 'infra/docker');
const version = (
  JSON.parse(await readFile(join(root, 'apps/worker/package.json'), 'utf8')) as { version: string }
).version;

interface Service {
  image?: string;
  build?: { context: string; dockerfile: string };
  command?: string[];
  entrypoint?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  depends_on?: string[] | Record<string, { condition: string }>;
}
interface Compose {
  services: Record<string, Service>;
}

const composeText = await readFile(join(composeDir, 'compose.yaml'), 'utf8');
const compose = parse(composeText) as Compose;
const services = compose.services;

/** Compose's interpolation of the values used here: `${NAME:-default}` (no .env file: the default), `$$`. */
function interpolate(value: string): string {
  return value.replace(/\$\{[A-Z_]+:-([^}]*)\}/g, '$1').replace(/\$\$/g, '$');
}

describe('compose.yaml', () => {
  it('is valid against the Compose Specification schema (which refuses a broken copy)', async () => {
    // A draft-07 schema; its `$schema` spells draft-07's id with https, which Ajv (draft-07 by default) does not know.
    const { $schema: _draft, ...schema } = JSON.parse(
      await readFile(join(root, 'test/infra/fixtures/compose-spec.json'), 'utf8'),
    ) as Record<string, unknown>;
    expect(_draft).toMatch(/draft-07/);
    const validate = new Ajv({ allErrors: true, strict: false, validateFormats: false }).compile(schema);
    expect(validate(compose), JSON.stringify(validate.errors)).toBe(true);
    const broken = structuredClone(compose) as unknown as {
      services: Record<string, Record<string, unknown>>;
    };
    broken.services.worker!.depends_on = { redis: { condition: 'when_it_feels_like_it' } };
    broken.services.redis!.ports = [{ target: 'six-three-seven-nine' }];
    expect(validate(broken)).toBe(false);
  });

  it('pins every image by version, no MinIO, recfleet images at the packages’ version', () => {
    for (const [name, s] of Object.entries(services)) {
      expect(s.image, name).toMatch(/^[a-z0-9./-]+:v?\d+(\.\d+)+(-[a-z0-9]+)?$/);
      expect(s.image).not.toMatch(/minio/);
      if (s.image!.startsWith('recfleet/')) expect(s.image, name).toMatch(new RegExp(`:${version}$`));
    }
    // Every image built here is built by some service (compose builds it once for all that use it).
    const built = new Set(
      Object.values(services)
        .filter((s) => s.build)
        .map((s) => s.image),
    );
    for (const s of Object.values(services))
      if (s.image!.startsWith('recfleet/')) expect(built.has(s.image), s.image).toBe(true);
  });

  it('names only files that exist, built and copied into the image that runs them', async () => {
    const dockerfiles: Record<string, string> = {};
    for (const s of Object.values(services))
      if (s.build) dockerfiles[s.image!] = await readFile(join(root, s.build.dockerfile), 'utf8');
    for (const [name, s] of Object.entries(services)) {
      if (s.command?.[0] === 'node' && s.command[1] && !s.command[1].startsWith('/')) {
        const script = s.command[1];
        expect(existsSync(join(root, script)), `${name}: ${script} (run npx tsc -b)`).toBe(true);
        const top = script.split('/').slice(0, 2).join('/');
        const dockerfile = dockerfiles[s.image!]!;
        expect(
          dockerfile.includes(`/src/${top} ./${top}`) ||
            dockerfile.includes(`/src/${script.split('/')[0]} ./`),
          `${name}: the image copies ${top}`,
        ).toBe(true);
      }
      for (const volume of s.volumes ?? []) {
        const source = volume.split(':')[0]!;
        if (source.startsWith('./'))
          expect(existsSync(join(composeDir, source)), `${name}: ${source}`).toBe(true);
      }
    }
    // The publisher publishes as the user the channel directory finds: user 1001 of demo/lobby.
    const publisher = services.publisher!.command!;
    expect(publisher.at(-1)).toBe(`rtmp://channels:1935/demo/${userStreamName('lobby', 1001)}`);
    // The producer API listens on every interface inside its container.
    expect(services.producer!.environment!.RECFLEET_API_HOST).toBe('0.0.0.0');
  });

  describe('rehearsed on this host', () => {
    let dir: string;
    let redis: TestRedis;
    let s3: TestS3;
    const procs: ManagedProcess[] = [];
    /** Service address in the compose network → where it runs here. */
    const hosts = new Map<string, string>();
    let local: (text: string) => string;
    let env: (service: string, extra?: Record<string, string>) => NodeJS.ProcessEnv;

    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'recfleet-compose-'));
      redis = await startTestRedis();
      s3 = await startTestS3();
      const [rtmpPort, httpPort] = [await freePort(), await freePort()];
      hosts.set('redis://redis:6379', redis.url);
      hosts.set('http://s3:8333', s3.endpoint);
      hosts.set('rtmp://channels:1935', `rtmp://127.0.0.1:${rtmpPort}`);
      hosts.set('http://channels:8000', `http://127.0.0.1:${httpPort}`);
      hosts.set('"rtmpPort":1935', `"rtmpPort":${rtmpPort}`);
      hosts.set('"httpPort":8000', `"httpPort":${httpPort}`);
      hosts.set('"bind":"0.0.0.0"', '"bind":"127.0.0.1"');
      hosts.set('"dataDir":"/tmp/channels"', `"dataDir":"${join(dir, 'channels')}"`);
      local = (text) => [...hosts].reduce((t, [from, to]) => t.split(from).join(to), interpolate(text));
      env = (service, extra = {}) => {
        const own = Object.fromEntries(
          Object.entries(services[service]!.environment ?? {}).map(([k, v]) => [k, local(String(v))]),
        );
        // The test's S3 server takes its own keys (s3rver: S3RVER only).
        const keys = 'S3_KEY' in own ? { S3_KEY: s3.accessKeyId, S3_SECRET: s3.secretAccessKey } : {};
        return { PATH: process.env.PATH, HOME: process.env.HOME, ...own, ...keys, ...extra };
      };
    });
    afterAll(async () => {
      for (const p of procs.reverse()) await p.stop('SIGTERM', 10_000);
      await s3?.stop();
      await redis?.stop();
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    function start(service: string, argv: string[], extra: Record<string, string> = {}): ManagedProcess {
      const p = new ManagedProcess(service, argv[0]!, argv.slice(1), { cwd: root, env: env(service, extra) });
      procs.push(p);
      return p;
    }

    it('creates the bucket, publishes the test channel and records it with the worker', async () => {
      // bucket: the compose command, twice (compose may run it again: an existing bucket is success).
      const [node, script] = services.bucket!.command!;
      expect(node).toBe('node');
      const bucketScript = join(composeDir, script!.replace('/opt/recfleet/', ''));
      for (let i = 0; i < 2; i++) {
        const r = await runNode(bucketScript, [], env('bucket'));
        expect(r.code, r.stderr).toBe(0);
        expect(r.stdout).toContain('recordings is ready');
      }

      const channels = start('channels', services.channels!.command!.map(local));
      await channels.waitForLine((l) => l.includes('"event":"ready"'), 20_000);
      start('publisher', services.publisher!.command!.map(local));
      await channels.waitForLine((l) => l.includes('"event":"postPublish"'), 20_000);

      const config = JSON.parse(
        local(await readFile(join(composeDir, 'worker.compose.json'), 'utf8')),
      ) as Record<string, unknown>;
      const configPath = join(dir, 'worker.json');
      await writeFile(configPath, JSON.stringify({ ...config, spoolDir: join(dir, 'spool'), httpPort: 0 }));
      const worker = start('worker', [process.execPath, 'apps/worker/dist/main.js'], {
        RECFLEET_CONFIG: configPath,
        RECFLEET_READY_LINE: '1',
      });
      await worker.waitForLine((l) => l.includes('RECFLEET_WORKER_READY'), 30_000);

      // start: the compose command as it is (a no-op when run again).
      const [, cli, ...args] = services.start!.command!.map(local);
      for (let i = 0; i < 2; i++) {
        const r = await runNode(join(root, cli!), args, env('start'));
        expect(r.code, r.stderr).toBe(0);
        expect(r.stdout.trim()).toBe('compose-lobby');
      }

      const storage = new S3Storage({
        bucket: 'recordings',
        region: 'us-east-1',
        endpoint: s3.endpoint,
        forcePathStyle: true,
        checksumMode: 'WHEN_REQUIRED',
        credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
      });
      const objects = async (): Promise<string[]> =>
        ((await storage.client.send(new ListObjectsV2Command({ Bucket: 'recordings' }))).Contents ?? []).map(
          (o) => o.Key!,
        );
      const deadline = Date.now() + 30_000;
      while ((await objects()).filter((k) => k.endsWith('.ts')).length < 2 && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 500));
      expect((await objects()).filter((k) => k.endsWith('.ts')).length).toBeGreaterThanOrEqual(2);

      const cliEnv = env('start');
      expect((await runNode(join(root, cli!), ['stop', 'compose-lobby'], cliEnv)).code).toBe(0);
      const watch = await runNode(join(root, cli!), ['watch', 'compose-lobby'], cliEnv);
      expect(watch.code, watch.stdout + watch.stderr).toBe(0);

      // What landed in the bucket plays: the user's playlist, downloaded beside its segments.
      const keys = await objects();
      const local_ = join(dir, 'bucket');
      for (const key of keys) {
        const body = await (
          await storage.client.send(new GetObjectCommand({ Bucket: 'recordings', Key: key }))
        ).Body!.transformToByteArray();
        const path = join(local_, key);
        spawnSync('mkdir', ['-p', dirname(path)]);
        await writeFile(path, body);
      }
      const playlists = keys.filter((k) => k.endsWith('.m3u8'));
      expect(playlists.length, keys.join(' ')).toBeGreaterThan(0);
      const ended = [];
      for (const p of playlists) {
        const text = await readFile(join(local_, p), 'utf8');
        if (text.includes('#EXT-X-ENDLIST') && text.includes('.ts')) ended.push(p);
      }
      expect(ended.length, playlists.join(' ')).toBeGreaterThan(0);
      for (const p of ended) expect(decodePlaylist(join(local_, p)).errors, p).toBe('');
    }, 120_000);
  });
});
