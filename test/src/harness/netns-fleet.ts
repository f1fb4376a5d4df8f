import { join } from 'node:path';
import type { ManagedProcess } from '@recfleet/embedded';
import { S3Storage } from '@recfleet/storage';
import type { LabHost, LabServices, NetnsLab } from './netns.js';
import { startWorkerProcess } from './worker-process.js';

/** A worker host of a network-namespace lab: its namespace, its worker process and every line it printed. */
export interface LabWorker extends LabHost {
  worker: ManagedProcess;
  /** Every line the worker printed (pino JSON), kept whole: the fence lines are the evidence. */
  log: string[];
}

/** The services host's s3rver as the `s3` storage profile of a worker host. */
export function labStorageProfiles(services: LabServices, bucket: string): Record<string, unknown> {
  return {
    s3: {
      type: 's3',
      bucket,
      region: 'us-east-1',
      endpoint: services.s3Endpoint,
      forcePathStyle: true,
      checksumMode: 'WHEN_REQUIRED',
      accessKeyId: 'S3RVER',
      secretAccessKey: 'S3RVER',
    },
  };
}

/** The services host's s3rver, for the test process (through its relay). */
export function labStore(services: LabServices, bucket: string): S3Storage {
  return new S3Storage({
    bucket,
    region: 'us-east-1',
    endpoint: services.local.s3Endpoint,
    forcePathStyle: true,
    checksumMode: 'WHEN_REQUIRED',
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
  });
}

/**
 * A new host of the lab running a worker (short locks, as the fault tests run them) that records into the
 * services host's s3rver; `extra` adds to its config.
 */
export async function startLabWorker(
  lab: NetnsLab,
  services: LabServices,
  name: string,
  bucket: string,
  extra: Record<string, unknown> = {},
): Promise<LabWorker> {
  return startWorkerOnHost(lab, services, lab.addHost(name), bucket, extra);
}

/**
 * A worker on a host the lab has already: a host's worker started again after a crash or a shutdown
 * runs on the same namespace and spool (its spool recovery delivers what the last one left).
 */
export async function startWorkerOnHost(
  lab: NetnsLab,
  services: LabServices,
  host: LabHost,
  bucket: string,
  extra: Record<string, unknown> = {},
): Promise<LabWorker> {
  const worker = await startWorkerProcess({
    redisUrl: services.redisUrl,
    storageProfiles: labStorageProfiles(services, bucket),
    spoolDir: join(lab.dir, `spool-${host.name}`),
    launcher: lab.launcher(host.ns),
    // Each lab host is a host of its own to the fleet (a standby is never on its owner's host).
    env: { HOSTNAME: host.name },
    extra: { lockSeconds: 4, stalledCheckSeconds: 1, shutdownGraceSeconds: 2, ...extra },
  });
  const log: string[] = [];
  let partial = '';
  worker.child.stdout?.on('data', (chunk: Buffer) => {
    const lines = (partial + chunk.toString('utf8')).split('\n');
    partial = lines.pop() ?? '';
    log.push(...lines);
  });
  return { ...host, worker, log };
}
