import { openStorage, type StorageAdapter, type StorageProfiles } from '@recfleet/storage';

/** One adapter (and so one HTTP client and connection pool) per storage profile in this process. */
export class StorageRegistry {
  private readonly open = new Map<string, StorageAdapter>();

  constructor(private readonly profiles: StorageProfiles) {}

  /** Throws StorageError STORAGE_PROFILE_UNKNOWN for a name the host does not know. */
  get(name: string): StorageAdapter {
    let adapter = this.open.get(name);
    if (!adapter) {
      adapter = openStorage(this.profiles, name);
      this.open.set(name, adapter);
    }
    return adapter;
  }
}
