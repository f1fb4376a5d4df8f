import { readdir, rm, rmdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parseTrackId, recordingRedisKeys, trackSegmentsKey } from '@recfleet/contract';
import {
  RecordingUploader,
  recordingObjectKeys,
  sourceSpanOf,
  userTrackObjectKeys,
  type BackupPolicy,
  type IndexedSegment,
  type RecordingObjectKeys,
} from '@recfleet/storage';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { RecordingRecord } from './recording-record.js';
import { RedisSegmentIndex } from './redis-segment-index.js';
import { STANDBY_SPOOL_FOLDER } from './standby-recording.js';
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

interface RecoveryContext {
  redis: Redis;
  storage: StorageRegistry;
  backup: BackupPolicy | undefined;
  log: Logger;
  recordingId: string;
  fields: Record<string, string>;
  recordKey: string;
  record: RecordingRecord;
  result: SpoolRecoveryResult;
}

/**
 * Delivers what a crashed predecessor left in this host's spool. Every finished segment that was
 * reserved in its track's index (reserveSegment-2.lua) is uploaded late, into its own place in the
 * playlist, under the epoch that reserved it — even if the recording now runs on another worker, or has
 * ended. A single stream's segments are in `<spoolDir>/<recordingId>/`, a channel recording's in one
 * folder per user track, `<spoolDir>/<recordingId>/<trackId>/`. Partial `.part` files are removed; so
 * are segments already delivered.
 */
export async function recoverSpool(args: {
  spoolDir: string;
  keyPrefix: string;
  redis: Redis;
  storage: StorageRegistry;
  backup: BackupPolicy | undefined;
  log: Logger;
}): Promise<SpoolRecoveryResult> {
  const { spoolDir, keyPrefix, redis } = args;
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
    const ctx: RecoveryContext = {
      ...args,
      recordingId,
      fields: await redis.hgetall(keys.record),
      recordKey: keys.record,
      record: new RecordingRecord(redis, keyPrefix, recordingId),
      result,
    };
    const prefix = ctx.fields.storagePrefix || undefined;
    await dropStandbyWindow(dir, recordingId, args.log);
    await recoverFolder(ctx, dir, keys.segments, {}, (c) => recordingObjectKeys(recordingId, c, prefix));
    for (const name of await readdir(dir).catch(() => [])) {
      const track = parseTrackId(name);
      const trackDir = join(dir, name);
      if (!track || !(await stat(trackDir)).isDirectory()) continue;
      const indexKey = trackSegmentsKey(keyPrefix, recordingId, name);
      await recoverFolder(ctx, trackDir, indexKey, { uid: track.uid, track: name }, (c) =>
        userTrackObjectKeys(recordingId, c, track.uid, track.type, prefix),
      );
      await rmdir(trackDir).catch(() => undefined);
    }
    await rmdir(dir).catch(() => undefined);
  }
  return result;
}

/**
 * A standby's window (segments it recorded but never delivered: it was not the owner) is worth nothing
 * once its process is gone: the owner delivered that time, or a new standby records it. Segments a
 * promoted standby delivers are moved out of it into the recording's folder before they are reserved.
 */
async function dropStandbyWindow(dir: string, recordingId: string, log: Logger): Promise<void> {
  const window = join(dir, STANDBY_SPOOL_FOLDER);
  const files = await readdir(window).catch(() => undefined);
  if (files === undefined) return;
  await rm(window, { recursive: true, force: true });
  log.info({ recordingId, files: files.length }, "a standby's undelivered window was removed");
}

/** Delivers one track's leftover segments (the files directly in `dir`); `labels` name a user's track. */
async function recoverFolder(
  ctx: RecoveryContext,
  dir: string,
  indexKey: string,
  labels: Record<string, unknown>,
  objectKeys: (channel: string) => RecordingObjectKeys,
): Promise<void> {
  const { fields, recordingId, log, result } = ctx;
  const files = (await readdir(dir, { withFileTypes: true })).filter((f) => f.isFile()).map((f) => f.name);
  for (const f of files.filter((name) => name.endsWith('.part'))) await rm(join(dir, f), { force: true });
  const segments = files.filter((name) => SEGMENT_FILE.test(name));
  if (segments.length === 0) return;
  if (!fields.storageProfile || fields.channel === undefined) {
    log.warn({ recordingId, files: segments.length }, 'spool holds segments of an unknown recording; kept');
    result.kept += segments.length;
    return;
  }
  const index = new RedisSegmentIndex(ctx.redis, ctx.recordKey, indexKey, Number(fields.epoch ?? 0));
  const entries = new Map((await index.list()).map((e) => [e.sequence, e] as const));
  const byEpoch = new Map<number, { entry: IndexedSegment; path: string }[]>();
  for (const name of segments) {
    const sequence = Number(SEGMENT_FILE.exec(name)![1]);
    const entry = entries.get(sequence);
    const path = join(dir, name);
    if (!entry || entry.location !== 'spool' || entry.epoch === undefined) {
      if (!entry) {
        log.warn({ recordingId, sequence, dir }, 'discarding a finished segment that was never reserved');
        result.discarded += 1;
      }
      await rm(path, { force: true });
      continue;
    }
    const group = byEpoch.get(entry.epoch) ?? [];
    group.push({ entry, path });
    byEpoch.set(entry.epoch, group);
  }
  const keys = objectKeys(fields.channel);
  for (const [epoch, group] of byEpoch) {
    const uploader = new RecordingUploader(ctx.storage.get(fields.storageProfile), keys, {
      index: new RedisSegmentIndex(ctx.redis, ctx.recordKey, indexKey, epoch),
      ...(ctx.backup ? { backup: ctx.backup } : {}),
    });
    // Reported only while the epoch that reserved them still owns the recording (appendEvent-2): a
    // recording resumed elsewhere shows no event of its earlier owner after the new one's claim.
    uploader.on(
      'uploaded',
      (e) =>
        void ctx.record
          .appendEvent(epoch, 'uploaded_segment', { ...labels, ...e, recovered: true })
          .catch((err: unknown) => log.warn({ err, recordingId }, 'recovered segment not reported')),
    );
    for (const { entry, path } of group.sort((a, b) => a.entry.sequence - b.entry.sequence)) {
      uploader.add({
        sequence: entry.sequence,
        filePath: path,
        durationSeconds: entry.durationSeconds,
        bytes: entry.bytes,
        discontinuity: entry.discontinuity,
        ...programDateTimeOf(entry),
        ...sourceSpanOf(entry),
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
        playlistKey: keys.playlistKey,
        delivered: outcome.segmentsUploaded,
        backedUp: outcome.backedUp,
        missing: outcome.missing,
      },
      'spool recovered',
    );
  }
}

/** The publisher's wall clock of a segment's first packet, when its index entry has one. */
function programDateTimeOf(entry: IndexedSegment): { programDateTime?: number } {
  const at = entry.programDateTime;
  return at !== undefined ? { programDateTime: at } : {};
}
