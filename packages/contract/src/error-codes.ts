/**
 * Stable error codes that cross every boundary (recorder → worker → job → API). Callers match on these,
 * never on message text. The engine's own codes are repeated here as-is so the job contract does not
 * depend on the native package.
 */
export const RecfleetErrorCode = {
  // Job contract
  INVALID_JOB: 'INVALID_JOB',
  STORAGE_PROFILE_UNKNOWN: 'STORAGE_PROFILE_UNKNOWN',
  // Recorder engine (same strings as @recfleet/engine-binding's EngineErrorCode)
  INVALID_OPTION: 'INVALID_OPTION',
  INVALID_URL: 'INVALID_URL',
  SOURCE_UNREACHABLE: 'SOURCE_UNREACHABLE',
  NO_MEDIA: 'NO_MEDIA',
  UNSUPPORTED_CODEC: 'UNSUPPORTED_CODEC',
  OUTPUT_NOT_WRITABLE: 'OUTPUT_NOT_WRITABLE',
  DISK_FULL: 'DISK_FULL',
  OUT_OF_MEMORY: 'OUT_OF_MEMORY',
  NATIVE_LOAD_FAILED: 'NATIVE_LOAD_FAILED',
  // Storage
  STORAGE_WRITE_FAILED: 'STORAGE_WRITE_FAILED',
  STORAGE_INTEGRITY: 'STORAGE_INTEGRITY',
  // Anything we did not foresee; reported with the message, never a stack trace.
  INTERNAL: 'INTERNAL',
} as const;
export type RecfleetErrorCode = (typeof RecfleetErrorCode)[keyof typeof RecfleetErrorCode];

const known = new Set<string>(Object.values(RecfleetErrorCode));
export function isRecfleetErrorCode(value: unknown): value is RecfleetErrorCode {
  return typeof value === 'string' && known.has(value);
}

/**
 * A failed job's `failedReason` is `[CODE] message`, so that a bare BullMQ consumer in any language can
 * recover the code without our client.
 */
export function formatFailure(code: RecfleetErrorCode, message: string): string {
  return `[${code}] ${message}`;
}

export function parseFailure(reason: string | undefined): { code: RecfleetErrorCode; message: string } {
  const m = /^\[([A-Z_]+)\] ([\s\S]*)$/.exec(reason ?? '');
  if (m && isRecfleetErrorCode(m[1])) return { code: m[1], message: m[2] ?? '' };
  return { code: RecfleetErrorCode.INTERNAL, message: reason ?? 'unknown failure' };
}
