import { RecfleetError, type RecfleetErrorCode } from '@recfleet/contract';

/**
 * The engine's codes are names from the contract's one error registry (ERROR_CODES), so their category,
 * HTTP status, exit code and retry policy are decided there and nowhere else. These lists only say which
 * of the registry's codes the engine can produce; `satisfies` keeps a code that is not in the registry
 * from compiling.
 */

/** Codes the native recorder puts in `fatal_error` (native/generated/vocabulary.h is made from this). */
export const NATIVE_FATAL_CODES = [
  'INVALID_URL',
  'SOURCE_UNREACHABLE',
  'NO_MEDIA',
  'UNSUPPORTED_CODEC',
  'OUTPUT_NOT_WRITABLE',
  'DISK_FULL',
  'OUT_OF_MEMORY',
  'INTERNAL',
] as const satisfies readonly RecfleetErrorCode[];

/** Codes the TypeScript wrapper throws itself, before or instead of anything native. */
const WRAPPER_ERROR_CODES = [
  'INVALID_OPTION',
  'RELEASED',
  'ALREADY_STARTED',
  'NOT_STARTED',
  'NATIVE_LOAD_FAILED',
] as const satisfies readonly RecfleetErrorCode[];

/** Every code of an error that ends a recording or refuses a call. */
export const ENGINE_ERROR_CODES = [...WRAPPER_ERROR_CODES, ...NATIVE_FATAL_CODES] as const;
export type EngineErrorCode = (typeof ENGINE_ERROR_CODES)[number];

/** Codes of recoverable trouble reported by `recorder_failure` while the recording goes on. */
export const RECORDER_FAILURE_CODES = [
  'SOURCE_UNREACHABLE',
  'SOURCE_LOST',
  'CORRUPT_PACKETS',
  'STREAM_CHANGED',
  'SOURCE_GAP',
] as const satisfies readonly RecfleetErrorCode[];
export type RecorderFailureCode = (typeof RECORDER_FAILURE_CODES)[number];

/** `{ CODE: 'CODE' }` for a list of codes: the values for `switch` and comparisons. */
function codeValues<const C extends string>(codes: readonly C[]): { readonly [K in C]: K } {
  return Object.freeze(Object.fromEntries(codes.map((c) => [c, c]))) as { readonly [K in C]: K };
}

/** `EngineErrorCode.NO_MEDIA === 'NO_MEDIA'`. */
export const EngineErrorCode = codeValues(ENGINE_ERROR_CODES);
/** `RecorderFailureCode.SOURCE_LOST === 'SOURCE_LOST'`. */
export const RecorderFailureCode = codeValues(RECORDER_FAILURE_CODES);

/** An engine error: a registry code (with the category's policy from RecfleetError) and, for options, which. */
export class RecorderError extends RecfleetError {
  declare readonly code: EngineErrorCode;

  constructor(
    code: EngineErrorCode,
    message: string,
    /** The option at fault, for INVALID_OPTION. */
    readonly option?: string,
  ) {
    super(code, message);
    this.name = 'RecorderError';
  }
}
