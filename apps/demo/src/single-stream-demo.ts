/**
 * `./run demo single`: one test publisher on one stream, recorded by its URL (a job with `sourceUrl`)
 * into one playlist.
 */
import { resolve } from 'node:path';
import { TestPublisher } from '@recfleet/embedded';
import { say, shown, startDemoStack, stopAfter, type DemoCleanup, type DemoOptions } from './demo-stack.js';
import { reportPlaylist } from './playlist-check.js';

const APP_ID = 'demo';
const CHANNEL = 'lobby';

export async function singleStreamDemo(o: DemoOptions, cleanup: DemoCleanup): Promise<number> {
  say('recfleet demo (single stream): starting a private Redis, an RTMP channel server and a publisher…');
  const { redis, channels, worker, client } = await startDemoStack(o.outputRoot, cleanup);
  const publisher = TestPublisher.start({
    url: channels.rtmpUrl(APP_ID, CHANNEL),
    width: 1280,
    height: 720,
    frameRate: 30,
    gop: 30,
  });
  cleanup.add(() => publisher.stop());
  await channels.waitForPublish(APP_ID, CHANNEL);
  say(`  redis     ${redis.url}`);
  say(`  stream    ${channels.rtmpBaseUrl}/${APP_ID}/${CHANNEL} (720p30 test pattern + 440 Hz tone)`);
  say(`  worker    pid ${String(worker.pid)}`);

  const { recordingId } = await client.start({
    appId: APP_ID,
    channel: CHANNEL,
    uid: 1001,
    sourceUrl: channels.rtmpUrl(APP_ID, CHANNEL),
    recordingConfig: { segmentSeconds: 4, maxIdleSeconds: 10 },
    storage: { profile: 'local' },
  });
  say(`\nrecording ${recordingId} of the stream for ${o.seconds} s (Ctrl-C stops it early)…`);
  const timer = stopAfter(client, recordingId, o.seconds);

  const tty = process.stdout.isTTY;
  let finalEvent;
  for await (const event of client.follow(recordingId)) {
    const d = event.data;
    if (event.type === 'progress' || event.type === 'segment') {
      const line =
        event.type === 'progress'
          ? `  recorded ${Number(d.durationSeconds).toFixed(1)} s · ${String(d.segments)} segments · uploaded ${String(d.uploadPercent)} %`
          : `  segment #${String(d.sequence)} closed: ${Number(d.durationSeconds).toFixed(2)} s, ${String(d.bytes)} bytes`;
      process.stdout.write(tty ? `\r\x1b[2K${line}` : `${line}\n`);
      if (tty && event.type === 'segment') process.stdout.write('\n');
    } else if (event.type === 'uploaded_segment') {
      const line = `  segment #${String(d.sequence)} in storage (${String(d.latencyMs)} ms after it closed)`;
      process.stdout.write(tty ? `\r\x1b[2K${line}\n` : `${line}\n`);
    } else {
      if (tty) process.stdout.write('\r\x1b[2K');
      say(`  ${event.type}${event.type === 'stopped' ? ` (${String(d.reason)})` : ''}`);
    }
    finalEvent = event;
  }
  timer.cancelTimer();

  if (!finalEvent || finalEvent.type !== 'uploaded') {
    say(`\nthe recording did not complete: ${JSON.stringify(finalEvent?.data ?? {})}`);
    say(`worker output:\n${worker.output()}`);
    return 1;
  }
  const result = finalEvent.data as { playlistLocation: string; segments: number; durationSeconds: number };
  const playlist = result.playlistLocation;
  say(`\nrecorded ${result.durationSeconds} s in ${result.segments} segments`);
  say(`  playlist  ${shown(playlist)}`);
  say(`  segments  ${shown(resolve(playlist, '..'))}/${recordingId}_*.ts`);
  return reportPlaylist(playlist) ? 0 : 1;
}
