import { z } from 'zod';
import { numberSchema, UID_RULE } from './job-rules.js';
import {
  RECORDING_MODES,
  TRACK_TYPES,
  USER_LEFT_REASONS,
  USER_NOT_RECORDED_REASONS,
  type TrackType,
} from './vocabulary.js';

/** A user's track in a channel recording: `<uid>-<av|audio|video>` (Redis keys, spool folders, events). */
export function trackId(uid: number, type: TrackType): string {
  return `${uid}-${type}`;
}

/** The uid and type a track id stands for (spool folders name tracks), or undefined when it is not one. */
export function parseTrackId(id: string): { uid: number; type: TrackType } | undefined {
  const m = /^([1-9][0-9]{0,9})-([a-z]+)$/.exec(id);
  if (!m || !(TRACK_TYPES as readonly string[]).includes(m[2]!)) return undefined;
  const uid = Number(m[1]);
  return uid > UID_RULE.max ? undefined : { uid, type: m[2] as TrackType };
}

/** The track type of a user's recorded streams (`av` for both), or undefined when nothing is recorded. */
export function trackTypeOf(streams: { audio: boolean; video: boolean }): TrackType | undefined {
  if (streams.audio && streams.video) return 'av';
  if (streams.audio) return 'audio';
  return streams.video ? 'video' : undefined;
}

/** The streams a track of this type records, the inverse of trackTypeOf. */
export function trackStreams(type: TrackType): { audio: boolean; video: boolean } {
  return { audio: type !== 'video', video: type !== 'audio' };
}

const isoTime = z.iso.datetime({ offset: true }).meta({ description: 'ISO 8601 time' });

/** One stretch of a user's presence in the channel, with what they published then. */
export const UserIntervalSchema = z
  .object({
    joinedAt: isoTime,
    /** Absent while the user is still in the channel. */
    leftAt: isoTime.optional(),
    reason: z.enum(USER_LEFT_REASONS).optional(),
    audio: z.boolean(),
    video: z.boolean(),
  })
  .strict();

/** One playlist of a user (the track type decides its name). */
export const UserTrackSchema = z
  .object({
    type: z.enum(TRACK_TYPES),
    /** Object key of the playlist, `<prefix>/<recordingId>_<channel>__uid_s_<uid>__uid_e_<type>.m3u8`. */
    playlistKey: z.string(),
    /** The playlist's name relative to the manifest (the same folder). */
    playlist: z.string(),
    segments: z.number().int().nonnegative(),
    durationSeconds: z.number().nonnegative(),
    /** EXT-X-PROGRAM-DATE-TIME of its first segment: where the track starts on the channel's clock. */
    firstProgramDateTime: isoTime.optional(),
  })
  .strict();

export const ManifestUserSchema = z
  .object({
    uid: numberSchema(UID_RULE),
    intervals: z.array(UserIntervalSchema),
    tracks: z.array(UserTrackSchema),
  })
  .strict();

export const NotRecordedUserSchema = z
  .object({ uid: numberSchema(UID_RULE), reason: z.enum(USER_NOT_RECORDED_REASONS), at: isoTime })
  .strict();

/**
 * `<recordingId>_<channel>.json` beside a channel recording's playlists: every user recorded, their
 * playlists and their timeline, kept current in storage while recording (rewritten when a user joins or
 * leaves, and at the end). `ended` is true in the final one.
 */
export const ChannelManifestSchema = z
  .object({
    $schema: z.string().optional(),
    version: z.literal(1),
    recordingId: z.string(),
    appId: z.string(),
    channel: z.string(),
    mode: z.enum(RECORDING_MODES),
    startedAt: isoTime,
    endedAt: isoTime.optional(),
    ended: z.boolean(),
    users: z.array(ManifestUserSchema),
    notRecorded: z.array(NotRecordedUserSchema),
  })
  .strict();
export type ChannelManifest = z.output<typeof ChannelManifestSchema>;
export type ManifestUser = z.output<typeof ManifestUserSchema>;

export const CHANNEL_MANIFEST_SCHEMA_ID = 'https://recfleet.dev/schema/channel-manifest.schema.json';

/** The manifest's JSON Schema (draft 2020-12), generated from the zod schema. */
export function channelManifestJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(ChannelManifestSchema, { io: 'output', unrepresentable: 'any' });
  return {
    $schema: schema.$schema,
    $id: CHANNEL_MANIFEST_SCHEMA_ID,
    title: 'recfleet channel manifest',
    ...Object.fromEntries(Object.entries(schema).filter(([k]) => k !== '$schema')),
  };
}
