import { z } from 'zod';
import { LocalDiskStorage } from './local-disk-storage.js';
import { StorageError, type StorageAdapter } from './storage-adapter.js';

export const LocalProfileSchema = z
  .object({
    type: z.literal('local'),
    /** Directory that plays the role of the bucket. */
    root: z.string().min(1),
  })
  .strict();

export const StorageProfileSchema = z.discriminatedUnion('type', [LocalProfileSchema]);
export type StorageProfile = z.output<typeof StorageProfileSchema>;

export const StorageProfilesSchema = z.record(
  z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, 'profile names must be 1–64 of a-z, 0-9, _ and -'),
  StorageProfileSchema,
);
export type StorageProfiles = z.output<typeof StorageProfilesSchema>;

/** Builds the adapter for a named profile; an unknown name is the job's mistake, not a transient fault. */
export function openStorage(profiles: StorageProfiles, name: string): StorageAdapter {
  const profile = profiles[name];
  if (!profile) {
    const known = Object.keys(profiles).join(', ') || '(none)';
    throw new StorageError('STORAGE_PROFILE_UNKNOWN', `storage profile "${name}" is not configured on this host (known: ${known})`, false);
  }
  switch (profile.type) {
    case 'local':
      return new LocalDiskStorage(profile.root);
  }
}
