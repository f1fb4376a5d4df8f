import { inspect } from 'node:util';
import { numberRuleProblem, type NumberRule } from '@recfleet/contract';
import { RecorderError } from './errors.js';

/** sharp's message shape: "Expected <rule> for <option> but received <value>". */
export function invalidOption(option: string, rule: string, value: unknown): RecorderError {
  const shown = inspect(value, { depth: 1, breakLength: Infinity, maxStringLength: 200 });
  return new RecorderError('INVALID_OPTION', `Expected ${rule} for ${option} but received ${shown}`, option);
}

/** The options object itself, with no key outside `known` (a misspelled option must not fall back). */
export function optionsObject(input: unknown, known: readonly string[]): Record<string, unknown> {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw invalidOption('options', 'an object', input);
  }
  for (const key of Object.keys(input)) {
    if (!known.includes(key)) {
      throw new RecorderError(
        'INVALID_OPTION',
        `Expected one of ${known.join(', ')} for option name but received ${inspect(key)}`,
        key,
      );
    }
  }
  return input as Record<string, unknown>;
}

/** `o[key]` checked against `rule`; when absent, the rule's default (undefined for a rule without one). */
export function numberOption(
  o: Record<string, unknown>,
  key: string,
  rule: NumberRule & { default: number },
): number;
export function numberOption(o: Record<string, unknown>, key: string, rule: NumberRule): number | undefined;
export function numberOption(o: Record<string, unknown>, key: string, rule: NumberRule): number | undefined {
  const value = o[key] === undefined ? rule.default : o[key];
  if (value === undefined) return undefined;
  const problem = numberRuleProblem(rule, value);
  if (problem) throw invalidOption(key, problem, value);
  return value as number;
}
