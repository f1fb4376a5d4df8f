import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ERROR_CODES, RECORDING_EVENT_TYPES, STOP_REASONS } from '@recfleet/contract';
import { describe, expect, it } from 'vitest';
import { NATIVE_VOCABULARY_HEADER, nativeVocabularyHeader } from './native-vocabulary.js';

const pkgDir = join(dirname(fileURLToPath(import.meta.url)), '..');
const nativeDir = join(pkgDir, 'native');

/** Every string literal of the hand-written C++ (the generated header is the one place words may be). */
function sourceLiterals(): { file: string; literal: string }[] {
  return readdirSync(nativeDir)
    .filter((f) => /\.(cc|h)$/.test(f))
    .flatMap((file) => {
      const text = readFileSync(join(nativeDir, file), 'utf8').replace(/^\s*#include .*$/gm, '');
      return [...text.matchAll(/"((?:[^"\\\n]|\\.)*)"/g)].map((m) => ({ file, literal: m[1]! }));
    });
}

describe('the words the addon emits', () => {
  it('come from a header that matches the contract (run `npm run vocabulary` after changing them)', () => {
    expect(readFileSync(join(pkgDir, NATIVE_VOCABULARY_HEADER), 'utf8')).toBe(nativeVocabularyHeader());
  });

  it('are never written as literals in the C++: codes, stop reasons and event types go through the header', () => {
    const words = new Set<string>([...Object.keys(ERROR_CODES), ...STOP_REASONS, ...RECORDING_EVENT_TYPES]);
    const literals = sourceLiterals();
    expect(literals.length).toBeGreaterThan(20); // the scan does see the sources
    const offending = literals.filter(
      ({ literal }) => words.has(literal) || /^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$/.test(literal),
    );
    expect(offending).toEqual([]);
  });
});
