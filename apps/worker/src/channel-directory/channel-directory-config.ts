import { resolveSecret, SecretRefSchema } from '@recfleet/storage';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { ChannelDirectory } from './channel-directory.js';
import { NodeMediaServerDirectory } from './node-media-server-directory.js';

/**
 * The worker's `channelDirectory`: where a channel recording (a job without `sourceUrl`) finds the
 * channel's users. Defaults fit the embedded channel server on its usual ports.
 */
export const NodeMediaServerDirectoryConfigSchema = z
  .object({
    type: z.literal('node-media-server'),
    /** Where users' streams are pulled from: `rtmp(s)://host:port` (no app, no stream). */
    rtmpUrl: z
      .string()
      .regex(/^rtmps?:\/\/[^/?#]+\/?$/, 'must be rtmp://host:port or rtmps://host:port (no path)')
      .default('rtmp://127.0.0.1:1935'),
    /** The server's HTTP base (its `http.port`): the API at `/api/v1`, HTTP-FLV plays beside it. */
    apiUrl: z
      .string()
      .regex(/^https?:\/\/[^?#]+$/, 'must be an http(s) URL without query')
      .default('http://127.0.0.1:8000'),
    /**
     * The server's `auth.jwt.secret`, which signs the API's bearer tokens: a string, `{ "env": NAME }`
     * or `{ "file": PATH }`, resolved on this host at start-up. Without it the API is called without
     * one (node-media-server then refuses: every channel recording fails with CONFIG_INVALID).
     */
    apiSecret: SecretRefSchema.optional(),
    pollIntervalMs: z.number().int().min(50).max(10_000).default(250),
    /** join() retries an unanswering server this long; a running recording keeps its users this long. */
    unreachableTimeoutMs: z.number().int().min(0).max(600_000).default(10_000),
  })
  .strict();

export const ChannelDirectoryConfigSchema = z.discriminatedUnion('type', [
  NodeMediaServerDirectoryConfigSchema,
]);
export type ChannelDirectoryConfig = z.output<typeof ChannelDirectoryConfigSchema>;

export const DEFAULT_CHANNEL_DIRECTORY_CONFIG: ChannelDirectoryConfig = {
  type: 'node-media-server',
  rtmpUrl: 'rtmp://127.0.0.1:1935',
  apiUrl: 'http://127.0.0.1:8000',
  pollIntervalMs: 250,
  unreachableTimeoutMs: 10_000,
};

/**
 * The directory the config names, its secret resolved now. Throws (a StorageError naming
 * `channelDirectory.apiSecret`) when the secret cannot be resolved; loadWorkerConfig calls this at
 * start-up so that a bad secret stops the worker before its first job.
 */
export function openChannelDirectory(
  config: ChannelDirectoryConfig,
  env: Record<string, string | undefined> = process.env,
  log?: Logger,
): ChannelDirectory {
  const apiSecret =
    config.apiSecret === undefined
      ? undefined
      : resolveSecret(config.apiSecret, env, 'channelDirectory.apiSecret');
  return new NodeMediaServerDirectory({
    rtmpUrl: config.rtmpUrl,
    apiUrl: config.apiUrl,
    pollIntervalMs: config.pollIntervalMs,
    unreachableTimeoutMs: config.unreachableTimeoutMs,
    ...(apiSecret === undefined ? {} : { apiSecret }),
    ...(log ? { log } : {}),
  });
}
