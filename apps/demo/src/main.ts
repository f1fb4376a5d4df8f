#!/usr/bin/env node
/**
 * `make demo`: a private Redis, an embedded RTMP channel with a test publisher, one worker process and
 * the producer client record the channel for ~20 s into local storage, then print where it is.
 * Everything started here is stopped on exit, Ctrl-C included.
 */
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { ChannelServer, ManagedProcess, RedisServer, TestPublisher } from '@recfleet/embedded';
import { RecordingClient } from '@recfleet/producer';

const seconds = Number(process.env.RECFLEET_DEMO_SECONDS ?? 20);
const outputRoot = resolve(process.env.RECFLEET_DEMO_OUTPUT ?? 'recordings');
const APP_ID = 'demo';
const CHANNEL = 'lobby';

const cleanups: (() => Promise<unknown>)[] = [];
let cleaning: Promise<void> | undefined;
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    for (const step of cleanups.reverse()) await step().catch(() => undefined);
  })();
  return cleaning;
}

const say = (line: string): void => void process.stdout.write(`${line}\n`);

async function main(): Promise<number> {
  say('recfleet demo: starting a private Redis, an RTMP channel server and a test publisher…');
  const redis = await RedisServer.start();
  cleanups.push(() => redis.stop());
  const channels = await ChannelServer.start();
  cleanups.push(() => channels.stop());
  const publisher = TestPublisher.start({
    url: channels.rtmpUrl(APP_ID, CHANNEL),
    width: 1280,
    height: 720,
    frameRate: 30,
    gop: 30,
  });
  cleanups.push(() => publisher.stop());
  await channels.waitForPublish(APP_ID, CHANNEL);
  say(`  redis     ${redis.url}`);
  say(`  channel   ${channels.rtmpUrl(APP_ID, CHANNEL)} (720p30 test pattern + 440 Hz tone)`);

  const work = await mkdtemp(join(tmpdir(), 'recfleet-demo-'));
  cleanups.push(() => rm(work, { recursive: true, force: true }));
  await mkdir(outputRoot, { recursive: true });
  const configPath = join(work, 'worker.json');
  await writeFile(
    configPath,
    JSON.stringify({
      redisUrl: redis.url,
      spoolDir: join(work, 'spool'),
      storageProfiles: { local: { type: 'local', root: outputRoot } },
      progressIntervalSeconds: 2,
      logLevel: 'warn',
    }),
  );
  const workerMain = join(dirname(createRequire(import.meta.url).resolve('@recfleet/worker')), 'main.js');
  const worker = new ManagedProcess('worker', process.execPath, [workerMain], {
    env: { ...process.env, RECFLEET_CONFIG: configPath, RECFLEET_READY_LINE: '1' },
  });
  cleanups.push(() => worker.stop('SIGTERM', 10_000));
  await worker.waitForLine((l) => l.includes('RECFLEET_WORKER_READY'), 20_000);
  say(`  worker    pid ${worker.pid}, spool ${join(work, 'spool')}`);

  const client = new RecordingClient({ redisUrl: redis.url });
  cleanups.push(() => client.close());
  const { recordingId } = await client.start({
    appId: APP_ID,
    channel: CHANNEL,
    uid: 1001,
    sourceUrl: channels.rtmpUrl(APP_ID, CHANNEL),
    recordingConfig: { segmentSeconds: 4, maxIdleSeconds: 10 },
    storage: { profile: 'local' },
  });
  say(`\nrecording ${recordingId} of channel "${CHANNEL}" for ${seconds} s (Ctrl-C stops it early)…`);

  let stopRequested = false;
  const requestStop = (): void => {
    if (stopRequested) return;
    stopRequested = true;
    void client.stop(recordingId);
  };
  const timer = setTimeout(requestStop, seconds * 1000);
  process.once('SIGINT', requestStop);

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
  clearTimeout(timer);

  if (!finalEvent || finalEvent.type !== 'uploaded') {
    say(`\nthe recording did not complete: ${JSON.stringify(finalEvent?.data ?? {})}`);
    say(`worker output:\n${worker.output()}`);
    return 1;
  }
  const result = finalEvent.data as { playlistLocation: string; segments: number; durationSeconds: number };
  const playlist = result.playlistLocation;
  const check = spawnSync('ffmpeg', ['-v', 'error', '-i', playlist, '-f', 'null', '-'], { encoding: 'utf8' });
  const shown = relative(process.cwd(), playlist) || playlist;
  say(`\nrecorded ${result.durationSeconds} s in ${result.segments} segments`);
  say(`  playlist  ${shown}`);
  say(`  segments  ${relative(process.cwd(), resolve(playlist, '..')) || '.'}/${recordingId}_*.ts`);
  say(`  play it   ffplay ${shown}`);
  say(`  check it  ffmpeg -v error -i ${shown} -f null -`);
  if (check.status === 0 && check.stderr.trim() === '')
    say('  verified  ffmpeg read the whole playlist without a single error');
  else say(`  WARNING   ffmpeg reported:\n${check.stderr}`);
  return check.status === 0 && check.stderr.trim() === '' ? 0 : 1;
}

main()
  .then(async (code) => {
    await cleanup();
    process.exit(code);
  })
  .catch(async (err: unknown) => {
    process.stderr.write(`recfleet demo failed: ${err instanceof Error ? err.message : String(err)}\n`);
    await cleanup();
    process.exit(1);
  });
for (const sig of ['SIGTERM', 'SIGHUP'] as const) {
  process.once(sig, () => void cleanup().then(() => process.exit(130)));
}
