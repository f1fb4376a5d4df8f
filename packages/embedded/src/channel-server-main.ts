/**
 * Runs node-media-server as a child process and reports its events as JSON lines on stdout.
 * Why a child: node-media-server keeps its state in a module-level singleton and calls process.exit()
 * when a port is taken, so it must not share a process with the code that drives it.
 * Config: the JSON of ChannelServerProcessConfig in the environment variable RECFLEET_CHANNEL_SERVER
 * (not argv: it carries the secrets, and argv is visible to every user of the host).
 */
import { createRequire } from 'node:module';
import type { Server, Socket } from 'node:net';
import { installChannelTokenAuth } from './channel-token-auth.js';
import type { ChannelServerProcessConfig } from './channel-server-config.js';

interface NmsSession {
  id: string;
  streamPath: string;
  protocol: string;
  broadcast?: {
    publisher: NmsSession | null;
    publishGraceMs: number;
    broadcastMessage: (packet: { flags: number; dts: number }) => void;
  };
}

const require = createRequire(import.meta.url);
let config: ChannelServerProcessConfig;
try {
  config = JSON.parse(process.env.RECFLEET_CHANNEL_SERVER ?? '') as ChannelServerProcessConfig;
} catch {
  process.stderr.write('channel-server-main: RECFLEET_CHANNEL_SERVER must hold the config as JSON\n');
  process.exit(2);
}

const NodeMediaServer = require('node-media-server') as new (config: unknown) => {
  rtmpServer: { tcpServer?: Server };
  on(event: string, listener: (session: NmsSession) => void): void;
  run(): Promise<void>;
  stop(): Promise<void>;
};
const logger = require('node-media-server/src/core/logger.js') as { level: string };

const nms = new NodeMediaServer({
  bind: config.bind ?? '127.0.0.1',
  rtmp: { port: config.rtmpPort, chunk_size: 60000, gop_cache: true, ping: 30, ping_timeout: 60 },
  http: { port: config.httpPort },
  auth: {
    play: config.playAuth,
    publish: config.publishAuth,
    secret: config.secret,
    // The HTTP API (/api/v1, what a channel directory polls) is on only with a JWT secret.
    jwt: { secret: config.apiSecret, algorithm: 'HS256', users: [] },
  },
  record: { auto: false, path: config.dataDir },
  store: { path: config.dataDir },
  webadmin: { enable: false },
});
// Its constructor forces debug logging; one line per packet burst would drown the demo's output.
logger.level = 'error';
if (config.channelTokenAuth) installChannelTokenAuth(nms, { secret: config.secret });
// node-media-server leaves Nagle's algorithm on: with the reader's delayed ACKs, small media packets wait
// up to 40 ms on their way to a player, which a recording's program dates would carry. Real channel
// servers send them at once (nginx-rtmp and SRS set TCP_NODELAY), so this one does too.
nms.rtmpServer.tcpServer?.on('connection', (socket: Socket) => socket.setNoDelay(true));

const report = (event: string, session?: NmsSession, extra: Record<string, unknown> = {}): void => {
  const line = { event, streamPath: session?.streamPath, sessionId: session?.id, at: Date.now(), ...extra };
  process.stdout.write(`${JSON.stringify(line)}\n`);
};

/**
 * Over the publisher's first seconds, the wall-clock time of its media time 0 as seen here: the minimum
 * of (arrival − dts) over its frames. Frames sent in a burst at the start only make it larger; paced
 * frames bring it down to the publisher's clock plus the network delay. Reported whenever it improves.
 */
const TIMELINE_WINDOW_MS = 5000;
function watchTimelineOrigin(session: NmsSession): void {
  const broadcast = session.broadcast!;
  const original = broadcast.broadcastMessage;
  const until = Date.now() + TIMELINE_WINDOW_MS;
  let best = Infinity;
  broadcast.broadcastMessage = (packet) => {
    const now = Date.now();
    // 1, 3, 4: audio frame, video key frame, video frame (not sequence headers or metadata).
    if (broadcast.publisher === session && (packet.flags === 1 || packet.flags === 3 || packet.flags === 4)) {
      const origin = now - packet.dts;
      if (origin < best) {
        best = origin;
        report('timelineOrigin', session, { originMs: origin });
      }
    }
    if (now > until || broadcast.publisher !== session) broadcast.broadcastMessage = original;
    original(packet);
  };
}

nms.on('postPublish', (session) => {
  const broadcast = session.broadcast;
  // Names outside node-media-server's alphabet are closed but still produce events with no path.
  if (!session.streamPath || !broadcast) return;
  // A second publisher on a live path gets postPublish before node-media-server closes it (its close is a
  // donePlay): it never publishes, so it is not reported.
  if (broadcast.publisher !== null && broadcast.publisher !== session) return;
  // Without this, node-media-server keeps a left publisher's path for 30 s in case it reconnects, and a
  // user's leave would show that much later.
  broadcast.publishGraceMs = 0;
  report('postPublish', session, { protocol: session.protocol });
  watchTimelineOrigin(session);
});
for (const event of ['donePublish', 'prePlay', 'postPlay', 'donePlay']) {
  nms.on(event, (session) => {
    if (session.streamPath) report(event, session, { protocol: session.protocol });
  });
}

await nms.run();
report('ready');

const shutdown = (): void => {
  void nms.stop().finally(() => process.exit(0));
};
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
