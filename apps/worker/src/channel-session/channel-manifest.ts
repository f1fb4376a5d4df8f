import {
  CHANNEL_MANIFEST_SCHEMA_ID,
  DEFAULT_RECORDING_MODE,
  RECORDING_MODES,
  type ChannelManifest,
  type ManifestUser,
  type RecordingMode,
} from '@recfleet/contract';

type NotRecordedUser = ChannelManifest['notRecorded'][number];

/** What a manifest says about the recording as a whole (kept on its record, for the drain too). */
export interface ManifestFacts {
  recordingId: string;
  appId: string;
  channel: string;
  mode: RecordingMode;
  /** ms since epoch */
  startedAt: number;
  endedAt?: number | undefined;
  notRecorded: NotRecordedUser[];
}

/**
 * The channel manifest: every user recorded (a user with at least one track), by uid, with their
 * timeline and playlists. Built from the same user entries the users hash holds, so whoever has the
 * record and the hash (the owner, the backup drain) writes the same manifest.
 */
export function buildChannelManifest(
  facts: ManifestFacts,
  users: Iterable<ManifestUser>,
  ended: boolean,
): ChannelManifest {
  return {
    $schema: CHANNEL_MANIFEST_SCHEMA_ID,
    version: 1,
    recordingId: facts.recordingId,
    appId: facts.appId,
    channel: facts.channel,
    mode: facts.mode,
    startedAt: new Date(facts.startedAt).toISOString(),
    ...(facts.endedAt !== undefined ? { endedAt: new Date(facts.endedAt).toISOString() } : {}),
    ended,
    users: [...users].filter((u) => u.tracks.length > 0).sort((a, b) => a.uid - b.uid),
    notRecorded: facts.notRecorded,
  };
}

/** The manifest facts a channel recording's record holds (see ChannelRecordingSession's claim). */
export function manifestFactsOf(recordingId: string, fields: Record<string, string>): ManifestFacts {
  const mode = (RECORDING_MODES as readonly string[]).includes(fields.mode ?? '')
    ? (fields.mode as RecordingMode)
    : DEFAULT_RECORDING_MODE;
  return {
    recordingId,
    appId: fields.appId ?? '',
    channel: fields.channel ?? '',
    mode,
    startedAt: Number(fields.startedAt) || Number(fields.createdAt) || 0,
    ...(fields.endedAt ? { endedAt: Number(fields.endedAt) } : {}),
    notRecorded: fields.notRecorded ? (JSON.parse(fields.notRecorded) as NotRecordedUser[]) : [],
  };
}
