import { MAX_IDLE_SECONDS_RULE } from '@recfleet/contract';
import { describe, expect, it } from 'vitest';
import { RecorderError } from './errors.js';
import { Recorder } from './recorder.js';
import {
  RECORDER_OPTION_RULES,
  resolveRecorderOptions,
  type RecorderOptionName,
} from './recorder-options.js';

const NAMES = Object.keys(RECORDER_OPTION_RULES) as RecorderOptionName[];

function refusal(input: unknown): RecorderError {
  try {
    resolveRecorderOptions(input);
  } catch (err) {
    expect(err).toBeInstanceOf(RecorderError);
    return err as RecorderError;
  }
  throw new Error(`accepted ${JSON.stringify(input)}`);
}

describe('recorder options (the engine policy)', () => {
  it('gives every option its rule’s default when none is set', () => {
    expect(resolveRecorderOptions()).toEqual(
      Object.fromEntries(NAMES.map((name) => [name, RECORDER_OPTION_RULES[name].default])),
    );
    // The test-only floor defaults to the contract's own minimum.
    expect(resolveRecorderOptions().minIdleSeconds).toBe(MAX_IDLE_SECONDS_RULE.min);
  });

  it.each(NAMES)('checks %s against its rule, naming it', (name) => {
    const rule = RECORDER_OPTION_RULES[name];
    const step = rule.integer ? 1 : 0.001;
    // reconnectMaxDelayMs may not be below reconnectInitialDelayMs: keep the pair consistent here.
    const base =
      name === 'reconnectInitialDelayMs'
        ? { reconnectMaxDelayMs: RECORDER_OPTION_RULES.reconnectMaxDelayMs.max }
        : name === 'reconnectMaxDelayMs'
          ? { reconnectInitialDelayMs: RECORDER_OPTION_RULES.reconnectInitialDelayMs.min }
          : {};
    for (const ok of [rule.min, rule.max]) {
      expect(resolveRecorderOptions({ ...base, [name]: ok })[name]).toBe(ok);
    }
    for (const bad of [rule.min - step, rule.max + step, String(rule.default), Number.NaN]) {
      const err = refusal({ ...base, [name]: bad });
      expect(err.code).toBe('INVALID_OPTION');
      expect(err.option).toBe(name);
      expect(err.message).toMatch(new RegExp(`^Expected .+ for ${name} but received `));
    }
  });

  it('refuses a maximum reconnect delay below the initial one', () => {
    const err = refusal({ reconnectInitialDelayMs: 500, reconnectMaxDelayMs: 400 });
    expect(err.option).toBe('reconnectMaxDelayMs');
  });

  it('refuses a misspelled option in the constructor', () => {
    expect(() => new Recorder({ minIdleSecond: 1 } as never)).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTION', option: 'minIdleSecond' }) as Error,
    );
    expect(refusal('fast').option).toBe('options');
  });
});
