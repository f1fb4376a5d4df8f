import { readdir, rm, rmdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { recordingRedisKeys } from '@recfleet/contract';
import {
  RecordingUploader,
  recordingObjectKeys,
  type BackupPolicy,
  type IndexedSegment,
} from '@recfleet/storage';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { RecordingRecord } from './recording-record.js';
import { RedisSegmentIndex } from './redis-segment-index.js';
import type { StorageRegistry } from './storage-registry.js';

const SEGMENT_FILE = /_(\d{6,})\.ts$/;

export interface SpoolRecoveryResult {
  delivered: number;
  /** Finished segments with no reservation: recorded after this worker lost the recording (or in the
   * millisecond between a segment's completion and its reservation during a crash). */
  discarded: number;
  /** Files left for a later start because their store did not take them. */
  kept: number;
}

/**
 * Delivers what a crashed predecessor left in this host's spool. Every finished segment that was
 * reserved in its recording's index (reserveSegment-2.lua) is uploaded late, into its own place in the
 * playlist, under the epoch that reserved it — even if the recording now runs on another worker, or has
 * ended. Partial `.part` files are removed; so are segments already delivered.
 */
export async function recoverSpool(args: {
  spoolDir: string;
  keyPrefix: string;
  redis: Redis;
  storage: StorageRegistry;
  backup: BackupPolicy | undefined;
  log: Logger;
}): Promise<SpoolRecoveryResult> {
  const { spoolDir, keyPrefix, redis, storage, log } = args;
  const result: SpoolRecoveryResult = { delivered: 0, discarded: 0, kept: 0 };
  let dirs: string[];
  try {
    dirs = await readdir(spoolDir);
  } catch {
    return result;
  }
  for (const recordingId of dirs) {
    const dir = join(spoolDir, recordingId);
    if (!(await stat(dir)).isDirectory()) continue;
    const keys = recordingRedisKeys(keyPrefix, recordingId);
    const fields = await redis.hgetall(keys.record);
    const files = await readdir(dir);
    for (const f of files.filter((name) => name.endsWith('.part'))) await rm(join(dir, f), { force: true });
    const segments = files.filter((name) => SEGMENT_FILE.test(name));
    if (segments.length === 0) {
      await rmdir(dir).catch(() => undefined);
      continue;
    }
    if (!fields.storageProfile || fields.channel === undefined) {
      log.warn({ recordingId, files: segments.length }, 'spool holds segments of an unknown recording; kept');
      result.kept += segments.length;
      continue;
    }
    const index = new RedisSegmentIndex(redis, keys.record, keys.segments, Number(fields.epoch ?? 0));
    const entries = new Map((await index.list()).map((e) => [e.sequence, e] as const));
    const byEpoch = new Map<number, { entry: IndexedSegment; path: string }[]>();
    for (const name of segments) {
      const sequence = Number(SEGMENT_FILE.exec(name)![1]);
      const entry = entries.get(sequence);
      const path = join(dir, name);
      if (!entry || entry.location !== 'spool' || entry.epoch === undefined) {
        if (!entry) {
          log.warn({ recordingId, sequence }, 'discarding a finished segment that was never reserved');
          result.discarded += 1;
        }
        await rm(path, { force: true });
        continue;
      }
      const group = byEpoch.get(entry.epoch) ?? [];
      group.push({ entry, path });
      byEpoch.set(entry.epoch, group);
    }
    const objectKeys = recordingObjectKeys(recordingId, fields.channel, fields.storagePrefix || undefined);
    const record = new RecordingRecord(redis, keyPrefix, recordingId);
    for (const [epoch, group] of byEpoch) {
      const uploader = new RecordingUploader(storage.get(fields.storageProfile), objectKeys, {
        index: new RedisSegmentIndex(redis, keys.record, keys.segments, epoch),
        ...(args.backup ? { backup: args.backup } : {}),
      });
      uploader.on('uploaded', (e) => void record.appendEvent('uploaded_segment', { ...e, recovered: true }));
      for (const { entry, path } of group.sort((a, b) => a.entry.sequence - b.entry.sequence)) {
        uploader.add({
          sequence: entry.sequence,
          filePath: path,
          durationSeconds: entry.durationSeconds,
          bytes: entry.bytes,
          discontinuity: entry.discontinuity,
          ...(entry.programDateTime !== undefined ? { programDateTime: entry.programDateTime } : {}),
        });
      }
      // The playlist is rewritten from the index; it keeps its ENDLIST if the recording has ended.
      const outcome = await uploader.finish({ endList: fields.ended === '1' });
      result.delivered += outcome.segmentsUploaded + outcome.segmentsBackedUp;
      result.kept += outcome.missing.length;
      log.info(
        {
          recordingId,
          epoch,
          delivered: outcome.segmentsUploaded,
          backedUp: outcome.backedUp,
          missing: outcome.missing,
        },
        'spool recovered',
      );
    }
    await rmdir(dir).catch(() => undefined);
  }
  return result;
}
