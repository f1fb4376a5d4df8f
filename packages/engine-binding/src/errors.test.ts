import { ERROR_CODES, errorPolicy, RecfleetError } from '@recfleet/contract';
import { describe, expect, it } from 'vitest';
import {
  ENGINE_ERROR_CODES,
  EngineErrorCode,
  NATIVE_FATAL_CODES,
  RECORDER_FAILURE_CODES,
  RecorderError,
  RecorderFailureCode,
} from './errors.js';

describe('engine error codes', () => {
  it('are codes of the contract’s registry, as values too', () => {
    for (const code of [...ENGINE_ERROR_CODES, ...RECORDER_FAILURE_CODES]) {
      expect(Object.hasOwn(ERROR_CODES, code), code).toBe(true);
    }
    expect(Object.values(EngineErrorCode)).toEqual([...ENGINE_ERROR_CODES]);
    expect(Object.values(RecorderFailureCode)).toEqual([...RECORDER_FAILURE_CODES]);
    expect(ENGINE_ERROR_CODES).toEqual(expect.arrayContaining([...NATIVE_FATAL_CODES]));
  });

  it('recorder_failure codes are the ones the registry marks as survivable, or SOURCE_UNREACHABLE', () => {
    for (const code of RECORDER_FAILURE_CODES) {
      const spec = ERROR_CODES[code] as { fatal?: false };
      expect(spec.fatal === false || code === 'SOURCE_UNREACHABLE', code).toBe(true);
    }
  });

  it('RecorderError is a RecfleetError with its category’s policy and the option at fault', () => {
    const err = new RecorderError('INVALID_OPTION', 'Expected x for y but received z', 'y');
    expect(err).toBeInstanceOf(RecfleetError);
    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe('RecorderError');
    expect(err.option).toBe('y');
    expect(err.category).toBe(errorPolicy('INVALID_OPTION').category);
    expect(err.httpStatus).toBe(errorPolicy('INVALID_OPTION').httpStatus);
    expect(err.retryable).toBe(false);
    expect(new RecorderError('DISK_FULL', 'full').category).toBe(ERROR_CODES.DISK_FULL.category);
  });
});
