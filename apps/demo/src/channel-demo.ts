/**
 * `./run demo` (the `channel` variant): a channel of two users on the embedded channel server, recorded
 * in individual mode. The recorder joins with a channel token (a job without `sourceUrl`); user 1001
 * publishes from the start, user 1002 joins a quarter of the way in and leaves at three quarters, each
 * with their own pattern and tone. The result is one playlist per user and the channel's manifest.
 */
import { readFile } from 'node:fs/promises';
import {
  ChannelManifestSchema,
  type ChannelManifest,
  type RecordingEvent,
  type RecordingResult,
  type UserLeftReason,
} from '@recfleet/contract';
import { ChannelUserPublisher, type TestPattern } from '@recfleet/embedded';
import {
  say,
  shown,
  startDemoStack,
  stopAfter,
  type DemoCleanup,
  type DemoOptions,
  type DemoStack,
} from './demo-stack.js';
import { reportPlaylist } from './playlist-check.js';

const APP_ID = 'demo';
const CHANNEL = 'lobby';
/** The recorder's own uid in the channel: no user may publish with it. */
const RECORDER_UID = 1;
const SEGMENT_SECONDS = 2;

interface DemoUser {
  uid: number;
  width: number;
  height: number;
  pattern: TestPattern;
  toneHz: number;
}
const FIRST: DemoUser = { uid: 1001, width: 1280, height: 720, pattern: 'testsrc2', toneHz: 440 };
const SECOND: DemoUser = { uid: 1002, width: 640, height: 360, pattern: 'smptebars', toneHz: 660 };

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function publishUser(stack: DemoStack, user: DemoUser): Promise<ChannelUserPublisher> {
  return ChannelUserPublisher.start({
    server: stack.channels,
    appId: APP_ID,
    channel: CHANNEL,
    uid: user.uid,
    width: user.width,
    height: user.height,
    frameRate: 30,
    gop: 30,
    pattern: user.pattern,
    toneHz: user.toneHz,
  });
}

function describeUser(stack: DemoStack, user: DemoUser): string {
  const path = stack.channels.userStreamPath(APP_ID, CHANNEL, user.uid);
  return `${stack.channels.rtmpBaseUrl}${path} (${user.height}p30 ${user.pattern}, ${user.toneHz} Hz tone)`;
}

/** The second user's visit: joins at a quarter of the recording, leaves at three quarters. */
async function secondUserVisit(
  stack: DemoStack,
  seconds: number,
  cleanup: DemoCleanup,
  over: () => boolean,
): Promise<void> {
  const began = Date.now();
  await sleep(seconds * 250);
  if (over()) return;
  const user = await publishUser(stack, SECOND);
  cleanup.add(() => user.stop());
  say(`→ user ${SECOND.uid} starts publishing ${describeUser(stack, SECOND)}`);
  await sleep(Math.max(0, began + seconds * 750 - Date.now()));
  if (over()) return;
  await user.stop();
  say(`→ user ${SECOND.uid} stops publishing`);
}

/** Per user: segments closed and in storage, and media seconds, for the live status line. */
class UserTally {
  private readonly users = new Map<number, { segments: number; stored: number; seconds: number }>();

  note(event: RecordingEvent): void {
    const uid = Number(event.data.uid);
    if (!Number.isInteger(uid)) return;
    const u = this.users.get(uid) ?? { segments: 0, stored: 0, seconds: 0 };
    this.users.set(uid, u);
    if (event.type === 'segment') {
      u.segments += 1;
      u.seconds += Number(event.data.durationSeconds);
    } else if (event.type === 'uploaded_segment') u.stored += 1;
  }

  line(): string {
    const parts = [...this.users].map(
      ([uid, u]) => `user ${uid}: ${u.segments} segments, ${u.seconds.toFixed(1)} s, ${u.stored} in storage`,
    );
    return `  ${parts.join(' · ')}`;
  }
}

/** How `user_left` reads, by its reason. */
const LEFT: Record<UserLeftReason, string> = {
  left: 'left the channel',
  recording_ended: 'is no longer recorded: the recording ended',
  unsubscribed: 'is no longer recorded: unsubscribed',
  failed: 'is no longer recorded: its recorder failed',
};

function eventLine(event: RecordingEvent): string | undefined {
  const d = event.data;
  switch (event.type) {
    case 'joined':
      return `  the recorder joined the channel as uid ${RECORDER_UID} (${String(d.users)} user(s) publishing)`;
    case 'user_joined': {
      const streams = [d.audio ? 'audio' : '', d.video ? 'video' : ''].filter(Boolean).join('+');
      const how = d.recorded ? `recorded in track ${String(d.track)}` : 'not recorded';
      return `  user ${String(d.uid)} joined (${streams}), ${how}`;
    }
    case 'user_left':
      return `  user ${String(d.uid)} ${LEFT[d.reason as UserLeftReason] ?? `left (${String(d.reason)})`}`;
    case 'user_not_recorded':
      return `  user ${String(d.uid)} is not recorded (${String(d.reason)})`;
    case 'started':
      return `  user ${String(d.uid)}: the recorder receives the stream`;
    case 'stopped':
      return `  stopped (${String(d.reason)})`;
    case 'segment':
    case 'uploaded_segment':
    case 'progress':
      return undefined;
    default:
      return `  ${event.type}`;
  }
}

/** Follows the recording's events until its final one, printing users as they come and go. */
async function followRecording(stack: DemoStack, recordingId: string): Promise<RecordingEvent | undefined> {
  const tty = process.stdout.isTTY;
  const tally = new UserTally();
  let finalEvent: RecordingEvent | undefined;
  for await (const event of stack.client.follow(recordingId)) {
    finalEvent = event;
    tally.note(event);
    const line = eventLine(event);
    if (line !== undefined) {
      say(tty ? `\r\x1b[2K${line}` : line);
    } else if (event.type === 'segment') {
      const d = event.data;
      if (tty) process.stdout.write(`\r\x1b[2K${tally.line()}`);
      else {
        const length = Number(d.durationSeconds).toFixed(2);
        say(`  segment #${String(d.sequence)} of user ${String(d.uid)} closed: ${length} s`);
      }
    }
  }
  if (tty) process.stdout.write('\r\x1b[2K');
  return finalEvent;
}

const clock = (iso: string | undefined): string => (iso ? iso.slice(11, 23) : '—');

/** Prints the manifest's timeline; its problems, if any (empty when it is what the demo recorded). */
function reportManifest(manifest: ChannelManifest): string[] {
  const start = Date.parse(manifest.startedAt);
  const at = (iso: string): string => `+${((Date.parse(iso) - start) / 1000).toFixed(1)} s`;
  for (const u of manifest.users) {
    const stays = u.intervals.map(
      (i) => `${at(i.joinedAt)} → ${i.leftAt ? `${at(i.leftAt)} (${String(i.reason)})` : 'still there'}`,
    );
    say(`  user ${u.uid}: in the channel ${stays.join(', ')}`);
    for (const t of u.tracks) {
      say(
        `    track ${t.type}: ${t.playlist}, ${t.segments} segments, ${t.durationSeconds.toFixed(1)} s, ` +
          `first program date-time ${clock(t.firstProgramDateTime)} UTC`,
      );
    }
  }
  const problems: string[] = [];
  if (!manifest.ended) problems.push('the manifest does not say the recording ended');
  for (const uid of [FIRST.uid, SECOND.uid]) {
    const u = manifest.users.find((x) => x.uid === uid);
    if (!u || u.tracks.length !== 1 || u.tracks[0]!.segments === 0) {
      problems.push(`the manifest does not list user ${uid} with one recorded playlist`);
    }
  }
  return problems;
}

export async function channelDemo(o: DemoOptions, cleanup: DemoCleanup): Promise<number> {
  say('recfleet demo (channel of users): starting a private Redis, an RTMP channel server and a worker…');
  const stack = await startDemoStack(o.outputRoot, cleanup);
  const { redis, channels, worker, client } = stack;
  say(`  redis     ${redis.url}`);
  say(`  channel   "${CHANNEL}" of app "${APP_ID}" on ${channels.rtmpBaseUrl} (API ${channels.apiUrl})`);
  say(`  worker    pid ${String(worker.pid)}`);
  const first = await publishUser(stack, FIRST);
  cleanup.add(() => first.stop());
  say(`→ user ${FIRST.uid} publishes ${describeUser(stack, FIRST)}`);

  // The job's token admits the recorder to every user's stream of the channel (and only that channel).
  const token = channels.channelToken(APP_ID, CHANNEL, o.seconds + 600);
  const { recordingId } = await client.start({
    appId: APP_ID,
    channel: CHANNEL,
    uid: RECORDER_UID,
    token,
    recordingConfig: { segmentSeconds: SEGMENT_SECONDS, maxIdleSeconds: 10 },
    storage: { profile: 'local' },
  });
  say(`\nrecording ${recordingId} of the channel's users for ${o.seconds} s (Ctrl-C stops it early)…`);
  const timer = stopAfter(client, recordingId, o.seconds);
  let over = false;
  const visit = secondUserVisit(stack, o.seconds, cleanup, () => over).catch((err: unknown) => {
    say(`  the second user could not publish: ${err instanceof Error ? err.message : String(err)}`);
  });
  const finalEvent = await followRecording(stack, recordingId);
  over = true;
  timer.cancelTimer();
  await visit;

  if (!finalEvent || finalEvent.type !== 'uploaded') {
    say(
      `\nthe recording did not complete: ${finalEvent?.type ?? 'no event'} ${JSON.stringify(finalEvent?.data ?? {})}`,
    );
    say(`worker output:\n${worker.output()}`);
    return 1;
  }
  const result = finalEvent.data as unknown as RecordingResult;
  const playlists = result.playlists ?? [];
  say(
    `\nrecorded ${result.users ?? playlists.length} users: ${result.segments} segments, ${result.durationSeconds} s in all`,
  );
  let clean = true;
  for (const p of playlists) {
    say(`\nuser ${p.uid} (${p.type})`);
    say(`  playlist  ${shown(p.location)}`);
    say(`  segments  ${shown(p.location.replace(/\.m3u8$/, ''))}_*.ts`);
    clean = reportPlaylist(p.location) && clean;
  }
  const problems: string[] = [];
  if (playlists.length !== 2) problems.push(`expected 2 playlists (one per user), got ${playlists.length}`);

  const manifestPath = result.manifestLocation ?? result.playlistLocation;
  say(`\nmanifest  ${shown(manifestPath)} (every user, their playlists and their timeline)`);
  const parsed = ChannelManifestSchema.safeParse(JSON.parse(await readFile(manifestPath, 'utf8')));
  if (parsed.success) problems.push(...reportManifest(parsed.data));
  else problems.push(`the manifest does not match its schema: ${parsed.error.message}`);

  for (const p of problems) say(`  WARNING   ${p}`);
  if (clean && problems.length === 0)
    say('\nevery check is clean: both playlists read without an error, the manifest is complete');
  return clean && problems.length === 0 ? 0 : 1;
}
