import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { StorageError } from './storage-adapter.js';

/**
 * Where a credential comes from. Job data is stored in clear text by the queue, so secrets are named
 * here (an environment variable or a file such as a mounted Docker/Kubernetes secret) and only resolved
 * on the host that opens the storage. A literal string is accepted too, for the host's own config file.
 */
export const SecretRefSchema = z.union([
  z.string().min(1),
  z
    .object({ env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name') })
    .strict(),
  z.object({ file: z.string().min(1) }).strict(),
]);
export type SecretRef = z.output<typeof SecretRefSchema>;

/**
 * Resolves a secret reference. `field` names the config path in errors (e.g. `profiles.main.accessKeyId`)
 * so an operator can tell which of several credentials is missing; the secret itself is never echoed.
 */
export function resolveSecret(
  ref: SecretRef,
  env: Record<string, string | undefined> = process.env,
  field = 'secret',
): string {
  if (typeof ref === 'string') return ref;
  if ('env' in ref) {
    const value = env[ref.env];
    if (value === undefined || value === '') {
      throw new StorageError(
        'STORAGE_CONFIG_INVALID',
        `${field}: environment variable ${ref.env} is not set`,
      );
    }
    return value;
  }
  let text: string;
  try {
    text = readFileSync(ref.file, 'utf8');
  } catch (err) {
    throw new StorageError(
      'STORAGE_CONFIG_INVALID',
      `${field}: cannot read secret file ${ref.file}: ${(err as Error).message}`,
      { cause: err },
    );
  }
  // Secret files are usually written with a trailing newline (echo, kubectl create secret --from-file).
  const value = text.replace(/\r?\n$/, '');
  if (value === '') {
    throw new StorageError('STORAGE_CONFIG_INVALID', `${field}: secret file ${ref.file} is empty`);
  }
  return value;
}
