/** What ChannelServer hands its child process (channel-server-main) in RECFLEET_CHANNEL_SERVER. */
export interface ChannelServerProcessConfig {
  /** The address it listens on: 127.0.0.1 unless given (0.0.0.0 in a container, infra/docker/compose.yaml). */
  bind?: string;
  rtmpPort: number;
  /** HTTP-FLV plays (`/<app>/<name>.flv`) and the HTTP API (`/api/v1`). */
  httpPort: number;
  dataDir: string;
  /** node-media-server's `auth.secret`: signs plays (and publishes when `publishAuth`). */
  secret: string;
  /** node-media-server's `auth.jwt.secret`: signs the HTTP API's bearer tokens. */
  apiSecret: string;
  playAuth: boolean;
  publishAuth: boolean;
  /** Whether installChannelTokenAuth runs (a plain node-media-server without it, for tests). */
  channelTokenAuth: boolean;
}
