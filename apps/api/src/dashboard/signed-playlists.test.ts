import { describe, expect, it } from 'vitest';
import { asPlayable, type PlayableRecording, recordingObjectKind } from './media.js';
import { rewriteSegmentUris, SignedPlaylists } from './signed-playlists.js';

const ID = '01JABCDEFGHJKMNPQRSTVWXYZ0';
const recording = {
  recordingId: ID,
  channel: 'room a',
  storageProfile: 'oss',
  playlistKey: `p/${ID}_room~20a.m3u8`,
} as PlayableRecording;

const PLAYLIST = [
  '#EXTM3U',
  '#EXT-X-VERSION:3',
  '#EXT-X-TARGETDURATION:2',
  '#EXT-X-MEDIA-SEQUENCE:1',
  '#EXTINF:2.000000,',
  `${ID}_room~20a_000001.ts`,
  '#EXT-X-DISCONTINUITY',
  '#EXTINF:1.500000,',
  `${ID}_room~20a_000003.ts`,
  '#EXTINF:1.000000,',
  'elsewhere_000004.ts',
  '#EXT-X-ENDLIST',
  '',
].join('\n');

describe('rewriteSegmentUris', () => {
  it('replaces URI lines only, keeping every tag and line in place', async () => {
    const out = await rewriteSegmentUris(PLAYLIST, async (uri) =>
      uri.startsWith(ID) ? `https://store/${uri}?sig` : undefined,
    );
    const lines = out.split('\n');
    expect(lines.filter((l) => l.startsWith('#'))).toEqual(
      PLAYLIST.split('\n').filter((l) => l.startsWith('#')),
    );
    expect(lines[5]).toBe(`https://store/${ID}_room~20a_000001.ts?sig`);
    expect(lines[8]).toBe(`https://store/${ID}_room~20a_000003.ts?sig`);
    expect(lines[10]).toBe('elsewhere_000004.ts');
  });
});

describe('SignedPlaylists', () => {
  const oss = {
    type: 'oss',
    bucket: 'recordings',
    region: 'cn-hangzhou',
    endpoint: 'http://127.0.0.1:9',
    accessKeyId: 'LTAI-unit',
    accessKeySecret: { env: 'UNIT_OSS_SECRET' },
  };

  it('signs only the recording’s own segments, under the playlist’s prefix, and reuses fresh URLs', async () => {
    const signed = new SignedPlaylists(
      { oss },
      { expiresSeconds: 60, env: { UNIT_OSS_SECRET: 's3cr3t-value' } },
    );
    expect(signed.unavailableReason('oss')).toBeUndefined();
    const a = await signed.segmentUrl(recording, `${ID}_room~20a_000001.ts`);
    expect(a).toMatch(
      new RegExp(`^http://127\\.0\\.0\\.1:9/recordings/p/${ID}_room~20a_000001\\.ts\\?OSSAccessKeyId=`),
    );
    expect(a).not.toContain('s3cr3t-value');
    expect(await signed.segmentUrl(recording, `${ID}_room~20a_000001.ts`)).toBe(a);
    expect(await signed.segmentUrl(recording, 'other_room~20a_000001.ts')).toBeUndefined();
    expect(await signed.segmentUrl(recording, `${ID}_room~20a.m3u8`)).toBeUndefined();
    signed.close();
  });

  it("signs a channel recording's user segments, by the names its users' tracks give, and nothing else", async () => {
    const signed = new SignedPlaylists(
      { oss },
      { expiresSeconds: 60, env: { UNIT_OSS_SECRET: 's3cr3t-value' } },
    );
    const channel = asPlayable(
      {
        recordingId: ID,
        state: 'recording',
        appId: 'a',
        channel: 'room a',
        uid: 1,
        createdAt: 0,
        updatedAt: 0,
        segmentsIndexed: 0,
        kind: 'channel',
        storageProfile: 'oss',
        storagePrefix: 'p',
        users: [
          {
            uid: 42,
            present: true,
            intervals: [],
            // Whatever key the hash holds, the name served is rebuilt from the uid and the type.
            tracks: [
              {
                type: 'av',
                playlistKey: '../../x.m3u8',
                playlist: '../x.m3u8',
                segments: 1,
                durationSeconds: 1,
              },
            ],
          },
        ],
      },
      { oss },
    )!;
    const user = `${ID}_room~20a__uid_s_42__uid_e_av`;
    expect(channel.playlistKey).toBe(`p/${ID}_room~20a.json`);
    expect(recordingObjectKind(channel, `${ID}_room~20a.json`)).toBe('manifest');
    expect(recordingObjectKind(channel, `${user}.m3u8`)).toBe('playlist');
    expect(await signed.segmentUrl(channel, `${user}_000003.ts`)).toMatch(
      new RegExp(`^http://127\\.0\\.0\\.1:9/recordings/p/${user}_000003\\.ts\\?OSSAccessKeyId=`),
    );
    for (const other of [
      `${ID}_room~20a_000001.ts`, // a single stream's segment
      `${ID}_room~20a__uid_s_43__uid_e_av_000001.ts`, // a user the recording does not have
      `${ID}_room~20a__uid_s_42__uid_e_audio_000001.ts`, // a track user 42 does not have
      '../x.m3u8',
    ]) {
      expect(recordingObjectKind(channel, other), other).toBeUndefined();
      expect(await signed.segmentUrl(channel, other), other).toBeUndefined();
    }
    expect(await signed.playlist(channel, `${ID}_room~20a__uid_s_43__uid_e_av.m3u8`)).toBeUndefined();
    signed.close();
  });

  it('explains why a profile cannot be played, naming the key and never a secret', () => {
    const signed = new SignedPlaylists(
      {
        oss,
        qiniu: { type: 'qiniu', bucket: 'b', region: 'z0', accessKey: 'ak', secretKey: 'qiniu-sk-value' },
        broken: { type: 's3', region: 'us-east-1', accessKeyId: 'a', secretAccessKey: 'b' },
        local: { type: 'local', root: '/tmp' },
      },
      { expiresSeconds: 60, env: {} },
    );
    expect(signed.unavailableReason('oss')).toMatch(
      /accessKeySecret: environment variable UNIT_OSS_SECRET is not set/,
    );
    expect(signed.unavailableReason('broken')).toMatch(/dashboards\.storageProfiles\.broken\.bucket/);
    expect(signed.handles('local')).toBe(false);
    expect(signed.unavailableReason('qiniu')).toMatch(
      /dashboards\.storageProfiles\.qiniu\.downloadBaseUrl: required/,
    );
    for (const name of ['oss', 'qiniu', 'broken']) {
      expect(signed.unavailableReason(name)).not.toMatch(/qiniu-sk-value|s3cr3t/);
    }
  });
});
