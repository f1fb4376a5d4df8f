/** Stable codes of errors that end a recording or refuse a call. Matched by callers; never reworded. */
export const EngineErrorCode = {
  INVALID_OPTION: 'INVALID_OPTION',
  INVALID_URL: 'INVALID_URL',
  SOURCE_UNREACHABLE: 'SOURCE_UNREACHABLE',
  NO_MEDIA: 'NO_MEDIA',
  UNSUPPORTED_CODEC: 'UNSUPPORTED_CODEC',
  OUTPUT_NOT_WRITABLE: 'OUTPUT_NOT_WRITABLE',
  DISK_FULL: 'DISK_FULL',
  OUT_OF_MEMORY: 'OUT_OF_MEMORY',
  RELEASED: 'RELEASED',
  ALREADY_STARTED: 'ALREADY_STARTED',
  NOT_STARTED: 'NOT_STARTED',
  NATIVE_LOAD_FAILED: 'NATIVE_LOAD_FAILED',
  INTERNAL: 'INTERNAL',
} as const;
export type EngineErrorCode = (typeof EngineErrorCode)[keyof typeof EngineErrorCode];

/** Codes of recoverable trouble reported by `recorder_failure` while the recording goes on. */
export const RecorderFailureCode = {
  SOURCE_UNREACHABLE: 'SOURCE_UNREACHABLE',
  SOURCE_LOST: 'SOURCE_LOST',
  CORRUPT_PACKETS: 'CORRUPT_PACKETS',
  STREAM_CHANGED: 'STREAM_CHANGED',
} as const;
export type RecorderFailureCode = (typeof RecorderFailureCode)[keyof typeof RecorderFailureCode];

export class RecorderError extends Error {
  constructor(
    readonly code: EngineErrorCode,
    message: string,
    /** The option at fault, for INVALID_OPTION. */
    readonly option?: string,
  ) {
    super(message);
    this.name = 'RecorderError';
  }
}
