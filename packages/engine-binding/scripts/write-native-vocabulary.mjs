#!/usr/bin/env node
// Writes native/generated/vocabulary.h from the contract (through the built src/native-vocabulary.ts).
// Run after `tsc -b` whenever the contract's codes, events or stop reasons, or the engine's code lists in
// src/errors.ts, change; src/native-vocabulary.test.ts fails until it has been run.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const pkgDir = join(dirname(fileURLToPath(import.meta.url)), '..');
let vocabulary;
try {
  vocabulary = await import('../dist/native-vocabulary.js');
} catch (err) {
  process.stderr.write(`@recfleet/engine-binding: build the TypeScript first (npx tsc -b): ${err.message}\n`);
  process.exit(1);
}
const path = join(pkgDir, vocabulary.NATIVE_VOCABULARY_HEADER);
mkdirSync(dirname(path), { recursive: true });
writeFileSync(path, vocabulary.nativeVocabularyHeader());
process.stdout.write(`wrote ${path}\n`);
