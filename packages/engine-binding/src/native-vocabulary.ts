import { STOP_REASONS, type RecordingEventType } from '@recfleet/contract';
import { NATIVE_FATAL_CODES, RECORDER_FAILURE_CODES } from './errors.js';

/** The events the addon posts, by their names in the contract's event vocabulary. */
export const NATIVE_EVENTS = [
  'joined',
  'started',
  'segment',
  'recorder_failure',
  'stopped',
  'fatal_error',
] as const satisfies readonly RecordingEventType[];

/** Where the addon's copy of these words lives; `npm run vocabulary` rewrites it. */
export const NATIVE_VOCABULARY_HEADER = 'native/generated/vocabulary.h';

/**
 * Every word the C++ puts into an event — event types, error codes, stop reasons — as constants made
 * from the contract, so the addon cannot emit a code or reason the registry does not have. The header is
 * committed (a build needs no generator step); a test fails when it no longer matches this output.
 */
export function nativeVocabularyHeader(): string {
  const block = (namespace: string, comment: string, words: readonly string[]): string[] => [
    `// ${comment}`,
    `namespace ${namespace} {`,
    ...words.map((w) => `inline constexpr char ${constantName(w)}[] = "${w}";`),
    `}  // namespace ${namespace}`,
    '',
  ];
  return [
    '// Generated from @recfleet/contract by scripts/write-native-vocabulary.mjs (src/native-vocabulary.ts):',
    '// do not edit. `npm run vocabulary --workspace @recfleet/engine-binding` rewrites it after a change to',
    '// the lists in src/errors.ts or the contract; src/native-vocabulary.test.ts fails while it is stale.',
    '#pragma once',
    '',
    'namespace recfleet {',
    '',
    ...block('events', "Event types (the contract's RECORDING_EVENTS).", NATIVE_EVENTS),
    ...block(
      'fatal_codes',
      'Codes of fatal_error (ERROR_CODES; NATIVE_FATAL_CODES in src/errors.ts).',
      NATIVE_FATAL_CODES,
    ),
    ...block(
      'failure_codes',
      'Codes of recorder_failure (ERROR_CODES; RECORDER_FAILURE_CODES in src/errors.ts).',
      RECORDER_FAILURE_CODES,
    ),
    ...block('stop_reasons', "Reasons of stopped (the contract's STOP_REASONS).", STOP_REASONS),
    '}  // namespace recfleet',
    '',
  ].join('\n');
}

/** `SOURCE_LOST` → `kSourceLost`, `idle_timeout` → `kIdleTimeout` (Google C++ style constants). */
function constantName(word: string): string {
  return `k${word
    .toLowerCase()
    .split('_')
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('')}`;
}
