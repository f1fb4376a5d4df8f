import { isIP } from 'node:net';
import type { NativeStartOptions, SourceReader } from './loader.js';
import type { RecorderPolicy } from './recorder-options.js';
import type { ResolvedStartOptions } from './start-options.js';

/**
 * The one place where checked options become what the addon reads. Every decision that depends on the
 * source (how long to probe, RTSP over TCP, whether an end of input ends the recording) is made here, so
 * the C++ only carries them out.
 */
export function nativeStartOptions(
  start: ResolvedStartOptions,
  policy: RecorderPolicy,
  /** What the loaded addon can read itself besides rtmp:// (NativeAddon.rtmpsReader). */
  addon: { rtmps: boolean } = { rtmps: false },
): NativeStartOptions {
  const isFile = start.scheme === 'file';
  const sourceReader = readerFor(start, policy, addon);
  const probeSeconds = isFile ? policy.fileProbeSeconds : policy.liveProbeSeconds;
  return {
    sourceUrl: start.sourceUrl,
    outputDir: start.outputDir,
    filePrefix: start.filePrefix,
    inputOptions: {
      analyzeduration: String(Math.round(probeSeconds * 1_000_000)),
      probesize: String(policy.probeBytes),
      // RTSP's default UDP transport loses packets under load and rarely gets through NAT or a firewall.
      ...(start.scheme === 'rtsp' ? { rtsp_transport: 'tcp' } : {}),
    },
    isFile,
    // An http(s) source that announced a duration (HLS VOD, a progressive file) has ended at its end; a
    // live one (HLS live, HTTP-FLV) announces none and is rejoined like any live source.
    endsAtKnownDuration: start.scheme === 'http' || start.scheme === 'https',
    wantAudio: start.streamTypes !== 'video',
    wantVideo: start.streamTypes !== 'audio',
    segmentSeconds: start.segmentSeconds,
    maxIdleSeconds: start.maxIdleSeconds,
    maxDurationSeconds: start.maxDurationSeconds ?? 0,
    startSequence: start.startSequence,
    discontinuity: start.discontinuity,
    alignToSource: start.alignToSource,
    // Media that arrives in bursts (a file read at full speed, HLS a segment at a time) is silent between
    // them without a gap; its timestamps say where one is. 0: no gap detection.
    gapSeconds: isFile || start.scheme === 'http' || start.scheme === 'https' ? 0 : start.gapSeconds,
    connectTimeoutMs: Math.trunc(start.connectTimeoutSeconds * 1000),
    readTimeoutMs: Math.trunc(start.readTimeoutSeconds * 1000),
    minConnectAttemptMs: policy.minConnectAttemptMs,
    ...reachability(start, sourceReader),
    sourceReader,
    readBufferBytes:
      sourceReader === 'rtmp'
        ? policy.rtmpReadBufferBytes
        : sourceReader === 'udp' || sourceReader === 'rtp'
          ? policy.udpReadBufferBytes
          : 0,
    // A mark above what one receive can take would never be reached.
    readLowWaterBytes: Math.min(policy.rtmpLowWaterBytes, policy.rtmpReadBufferBytes),
    readPollIntervalMs: policy.readPollIntervalMs,
    reconnectInitialDelayMs: policy.reconnectInitialDelayMs,
    reconnectMaxDelayMs: policy.reconnectMaxDelayMs,
    reconnectBackoffFactor: policy.reconnectBackoffFactor,
    reconnectReportEvery: policy.reconnectReportEvery,
    corruptReportIntervalMs: policy.corruptReportIntervalMs,
    heapTrimIntervalMs: policy.heapTrimIntervalMs,
    timelineStartSeconds: start.timelineStartSeconds ?? policy.timelineStartSeconds,
    timelineGapSeconds: policy.timelineGapSeconds,
    clockJumpBackSeconds: policy.clockJumpBackSeconds,
    clockJumpForwardSeconds: policy.clockJumpForwardSeconds,
  };
}

/**
 * Which code reads the source. rtmp:// and rtmps:// go through the engine's buffered RTMP client (a few
 * large reads a second instead of libavformat's ~900 small ones for RTMP, ~300 for RTMPS, whose TLS layer
 * also holds the system's CA store per connection: 7.6 MB a stream; docs/benchmarks.md, "Read path"),
 * except where libavformat's client does more than play: a URL with user-info (it answers Adobe and
 * Limelight authentication challenges with them). rtmps:// needs an addon built with GnuTLS; without it,
 * libavformat reads it. `rtmpReadBufferBytes: 0` turns the client off. Plain udp:// goes through the
 * engine's batched datagram reader (~25 system calls a second instead of ~700: libavformat's UDP thread
 * receives and signals per datagram), and so does rtp:// of MPEG-TS (~1000 instead); `udpReadBufferBytes:
 * 0` turns it off for both.
 */
function readerFor(
  start: ResolvedStartOptions,
  policy: RecorderPolicy,
  addon: { rtmps: boolean },
): SourceReader {
  if (start.scheme === 'udp' || start.scheme === 'rtp') {
    return policy.udpReadBufferBytes > 0 && plainDatagramUrl(start.sourceUrl) ? start.scheme : 'libavformat';
  }
  const ours = start.scheme === 'rtmp' || (start.scheme === 'rtmps' && addon.rtmps);
  if (!ours || policy.rtmpReadBufferBytes === 0) return 'libavformat';
  return hasUserInfo(start.sourceUrl) ? 'libavformat' : 'rtmp';
}

/**
 * udp:// and rtp:// read by the engine: `<scheme>://@:port`, `<scheme>://:port`, `<scheme>://<IPv4
 * address>:port` (a multicast group is joined). Options (`?localaddr=`, `?sources=`, `?fifo_size=`…) and
 * host names or IPv6 are libavformat's to handle; so is an rtp:// stream that turns out not to carry
 * MPEG-TS (the engine hands it over at the first packet).
 */
function plainDatagramUrl(url: string): boolean {
  return /^(udp|rtp):\/\/@?(\d{1,3}(\.\d{1,3}){3})?:\d{1,5}\/?$/i.test(url);
}

function hasUserInfo(url: string): boolean {
  try {
    const u = new URL(url);
    return u.username !== '' || u.password !== '';
  } catch {
    return false;
  }
}

/**
 * What tells the engine that a failed open never reached the source, so that a recording whose every
 * attempt failed so ends SOURCE_UNREACHABLE rather than as an empty channel. The engine's own RTMP
 * client knows whether it connected; a refused or unroutable connection says so itself. Beyond that:
 * libavformat reports a host name that does not resolve as EIO, like a server that answered and closed,
 * so the engine resolves the name first (every network source libavformat reads); and an SRT caller that gets no handshake
 * (libsrt's EIO, or our connect timeout) met no SRT peer — UDP has no connection to tell it otherwise.
 * An SRT listener waits for its publisher: nobody calling is an empty channel, not an unreachable one.
 */
function reachability(
  start: ResolvedStartOptions,
  sourceReader: NativeStartOptions['sourceReader'],
): Pick<NativeStartOptions, 'resolveHost' | 'unansweredOpenUnreached'> {
  const network =
    ['srt', 'rtsp', 'http', 'https', 'rtmp', 'rtmps'].includes(start.scheme) &&
    sourceReader === 'libavformat';
  let host = '';
  let listener = false;
  if (network) {
    try {
      const url = new URL(start.sourceUrl);
      host = url.hostname.replace(/^\[(.*)\]$/, '$1');
      listener = url.searchParams.get('mode') === 'listener';
    } catch {
      host = '';
    }
  }
  const literal = host === '' || isIP(host) !== 0;
  return {
    resolveHost: literal ? '' : host,
    unansweredOpenUnreached: start.scheme === 'srt' && !listener,
  };
}
