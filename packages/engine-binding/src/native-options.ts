import type { NativeStartOptions } from './loader.js';
import type { RecorderPolicy } from './recorder-options.js';
import type { ResolvedStartOptions } from './start-options.js';

/**
 * The one place where checked options become what the addon reads. Every decision that depends on the
 * source (how long to probe, RTSP over TCP, whether an end of input ends the recording) is made here, so
 * the C++ only carries them out.
 */
export function nativeStartOptions(start: ResolvedStartOptions, policy: RecorderPolicy): NativeStartOptions {
  const isFile = start.scheme === 'file';
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
