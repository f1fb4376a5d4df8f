import { openStorage, parseStorageProfiles, StorageError, type StorageAdapter } from '@recfleet/storage';
import {
  recordingObjectKey,
  recordingObjectKind,
  type DashboardStorageProfile,
  type PlayableRecording,
} from './media.js';

/** Storage profile types whose objects can be reached through signed URLs. */
const SIGNING_TYPES = new Set(['s3', 'oss', 'qiniu']);
/** Bound on remembered URLs per profile: a few long recordings' worth of segments. */
const MAX_CACHED_URLS = 50_000;

export interface SignedPlaylistsOptions {
  /** Lifetime of each signed segment URL. */
  expiresSeconds: number;
  /** Where `{ env }` secret references of the profiles are resolved (default process.env). */
  env?: Record<string, string | undefined>;
}

type ReadableStore = StorageAdapter & {
  get: NonNullable<StorageAdapter['get']>;
  signedReadUrl: NonNullable<StorageAdapter['signedReadUrl']>;
};

/**
 * Playlists of recordings in cloud profiles, for the player: read from the store with the profile's
 * credentials (which stay on this host) and returned with every segment URI replaced by a short-lived
 * signed URL, so the segments load straight from the store. Each poll of a live playlist is rewritten
 * afresh; a signed URL is reused while more than half of its lifetime remains, so a long recording's
 * playlist is not re-signed segment by segment on every poll.
 */
export class SignedPlaylists {
  private readonly stores = new Map<string, ReadableStore>();
  private readonly urls = new Map<string, Map<string, { url: string; renewAt: number }>>();

  constructor(
    private readonly profiles: Readonly<Record<string, DashboardStorageProfile>>,
    private readonly options: SignedPlaylistsOptions,
  ) {}

  /** Whether the profile is a cloud profile at all (local ones are served from disk). */
  handles(name: string): boolean {
    return SIGNING_TYPES.has(this.profiles[name]?.type ?? '');
  }

  /** Why recordings of this profile cannot be played through signed URLs; undefined when they can. */
  unavailableReason(name: string): string | undefined {
    if (!this.handles(name)) return `storage profile "${name}" is not a cloud profile`;
    try {
      this.store(name);
      return undefined;
    } catch (err) {
      return err instanceof StorageError ? err.message : String(err);
    }
  }

  /**
   * One of the recording's playlists (its own, or a user's named `file`) with signed segment URIs, or
   * undefined while the store has none. Rejects with StorageError when the store cannot be read or URLs
   * cannot be signed.
   */
  async playlist(r: PlayableRecording, file?: string): Promise<string | undefined> {
    const store = this.store(r.storageProfile);
    if (file !== undefined && recordingObjectKind(r, file) !== 'playlist') return undefined;
    const data = await store.get(file === undefined ? r.playlistKey : recordingObjectKey(r, file));
    if (!data) return undefined;
    return rewriteSegmentUris(data.toString('utf8'), async (uri) =>
      recordingObjectKind(r, uri) === 'segment'
        ? this.signedUrl(r.storageProfile, store, recordingObjectKey(r, uri))
        : undefined,
    );
  }

  /** A channel recording's manifest as stored, or undefined while the store has none. */
  async manifest(r: PlayableRecording, file: string): Promise<Buffer | undefined> {
    if (recordingObjectKind(r, file) !== 'manifest') return undefined;
    return this.store(r.storageProfile).get(recordingObjectKey(r, file));
  }

  /** A signed URL for one of the recording's segments (for players that ask the plugin per segment). */
  async segmentUrl(r: PlayableRecording, file: string): Promise<string | undefined> {
    if (recordingObjectKind(r, file) !== 'segment') return undefined;
    return this.signedUrl(r.storageProfile, this.store(r.storageProfile), recordingObjectKey(r, file));
  }

  close(): void {
    for (const store of this.stores.values()) (store as { close?: () => void }).close?.();
    this.stores.clear();
    this.urls.clear();
  }

  private async signedUrl(profile: string, store: ReadableStore, key: string): Promise<string> {
    let cache = this.urls.get(profile);
    if (!cache) this.urls.set(profile, (cache = new Map()));
    const now = Date.now();
    const hit = cache.get(key);
    if (hit && hit.renewAt > now) return hit.url;
    const url = await store.signedReadUrl(key, { expiresSeconds: this.options.expiresSeconds });
    cache.delete(key);
    if (cache.size >= MAX_CACHED_URLS) cache.delete(cache.keys().next().value!);
    cache.set(key, { url, renewAt: now + (this.options.expiresSeconds * 1000) / 2 });
    return url;
  }

  /** Opens the profile's adapter once; configuration or secret problems surface as StorageError. */
  private store(name: string): ReadableStore {
    const open = this.stores.get(name);
    if (open) return open;
    const profile = this.profiles[name];
    if (!profile || !this.handles(name)) {
      throw new StorageError('STORAGE_PROFILE_UNKNOWN', `storage profile "${name}" is not a cloud profile`);
    }
    // Validated exactly as the workers validate it, so both sides agree on what the profile means.
    const profiles = parseStorageProfiles({ [name]: profile }, 'dashboards.storageProfiles');
    const parsed = profiles[name]!;
    if (parsed.type === 'qiniu' && !parsed.downloadBaseUrl) {
      // Kodo serves objects only through a domain bound to the bucket: without it nothing can be signed.
      throw new StorageError(
        'STORAGE_CONFIG_INVALID',
        `dashboards.storageProfiles.${name}.downloadBaseUrl: required to play from Qiniu (a domain bound to bucket ${parsed.bucket})`,
      );
    }
    const adapter = openStorage(profiles, name, this.options.env ?? process.env);
    if (!adapter.get || !adapter.signedReadUrl) {
      throw new StorageError(
        'STORAGE_CONFIG_INVALID',
        `storage profile "${name}" (${adapter.kind}) cannot sign read URLs`,
      );
    }
    const store = adapter as ReadableStore;
    this.stores.set(name, store);
    return store;
  }
}

/**
 * Replaces each URI line of an HLS media playlist by what `sign` returns for it (left as is when it
 * returns undefined). Tags and comments pass through untouched; our playlists carry no URI attributes
 * (no EXT-X-KEY or EXT-X-MAP), so URI lines are the only references.
 */
export async function rewriteSegmentUris(
  playlist: string,
  sign: (uri: string) => Promise<string | undefined>,
): Promise<string> {
  const lines = playlist.split('\n');
  const out: string[] = [];
  for (const line of lines) {
    const uri = line.trim();
    if (uri === '' || uri.startsWith('#')) {
      out.push(line);
      continue;
    }
    out.push((await sign(uri)) ?? line);
  }
  return out.join('\n');
}
