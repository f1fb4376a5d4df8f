import type { NativeStartOptions, SourceReader } from './loader.js';
import type { RecorderPolicy } from './recorder-options.js';
import type { ResolvedStartOptions } from './start-options.js';

/**
 * The one place where checked options become what the addon reads. Every decision that depends on the
 * source (how long to probe, RTSP over TCP, whether an end of input ends the recording) is made here, so
 * the C++ only carries them out.
 */
export function nativeStartOptions(start: ResolvedStartOptions, policy: RecorderPolicy): NativeStartOptions {
  const isFile = start.scheme === 'file';
  const sourceReader = readerFor(start, policy);
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
    connectTimeoutMs: Math.trunc(start.connectTimeoutSeconds * 1000),
    readTimeoutMs: Math.trunc(start.readTimeoutSeconds * 1000),
    minConnectAttemptMs: policy.minConnectAttemptMs,
    sourceReader,
    readBufferBytes: sourceReader === 'rtmp' ? policy.rtmpReadBufferBytes : 0,
    // A mark above what one receive can take would never be reached.
    readLowWaterBytes: Math.min(policy.rtmpLowWaterBytes, policy.rtmpReadBufferBytes),
    readPollIntervalMs: policy.readPollIntervalMs,
    reconnectInitialDelayMs: policy.reconnectInitialDelayMs,
    reconnectMaxDelayMs: policy.reconnectMaxDelayMs,
    reconnectBackoffFactor: policy.reconnectBackoffFactor,
    reconnectReportEvery: policy.reconnectReportEvery,
    corruptReportIntervalMs: policy.corruptReportIntervalMs,
    heapTrimIntervalMs: policy.heapTrimIntervalMs,
    timelineStartSeconds: policy.timelineStartSeconds,
    timelineGapSeconds: policy.timelineGapSeconds,
    clockJumpBackSeconds: policy.clockJumpBackSeconds,
    clockJumpForwardSeconds: policy.clockJumpForwardSeconds,
  };
}

/**
 * Which code reads the source. rtmp:// goes through the engine's buffered RTMP client (a few large reads a
 * second instead of libavformat's ~900 small ones), except where libavformat's client does more than
 * play: a URL with user-info (it answers Adobe and Limelight authentication challenges with them). rtmps://
 * stays with libavformat: its TLS layer already reads whole records (up to 16 KiB) per receive, so its
 * system calls are not the problem there (docs/benchmarks.md, "Read path"). `rtmpReadBufferBytes: 0`
 * turns the client off.
 */
function readerFor(start: ResolvedStartOptions, policy: RecorderPolicy): SourceReader {
  if (start.scheme !== 'rtmp' || policy.rtmpReadBufferBytes === 0) return 'libavformat';
  return hasUserInfo(start.sourceUrl) ? 'libavformat' : 'rtmp';
}

function hasUserInfo(url: string): boolean {
  try {
    const u = new URL(url);
    return u.username !== '' || u.password !== '';
  } catch {
    return false;
  }
}
