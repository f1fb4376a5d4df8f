/**
 * Runs node-media-server as a child process and reports its events as JSON lines on stdout.
 * Why a child: node-media-server keeps its state in a module-level singleton and calls process.exit()
 * when a port is taken, so it must not share a process with the code that drives it.
 * argv: <rtmpPort> <dataDir>
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const [rtmpPortArg, dataDir] = process.argv.slice(2);
const rtmpPort = Number(rtmpPortArg);
if (!Number.isInteger(rtmpPort) || rtmpPort <= 0 || !dataDir) {
  process.stderr.write('usage: channel-server-main <rtmpPort> <dataDir>\n');
  process.exit(2);
}

const NodeMediaServer = require('node-media-server') as new (config: unknown) => {
  on(event: string, listener: (session: { streamPath?: string; id?: string }) => void): void;
  run(): Promise<void>;
  stop(): Promise<void>;
};
const logger = require('node-media-server/src/core/logger.js') as { level: string };

const nms = new NodeMediaServer({
  bind: '127.0.0.1',
  rtmp: { port: rtmpPort, chunk_size: 60000, gop_cache: true, ping: 30, ping_timeout: 60 },
  auth: { play: false, publish: false },
  record: { auto: false, path: dataDir },
  store: { path: dataDir },
  webadmin: { enable: false },
});
// Its constructor forces debug logging; one line per packet burst would drown the demo's output.
logger.level = 'error';

const report = (event: string, streamPath?: string): void => {
  process.stdout.write(`${JSON.stringify({ event, streamPath })}\n`);
};
for (const event of ['postPublish', 'donePublish', 'postPlay', 'donePlay']) {
  nms.on(event, (session) => report(event, session.streamPath));
}

await nms.run();
report('ready');

const shutdown = (): void => {
  void nms.stop().finally(() => process.exit(0));
};
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
