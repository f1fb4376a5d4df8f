import type { RecordingObjectKeys } from './object-keys.js';
import { renderLivePlaylist, renderPlaylist } from './playlist.js';
import type { IndexedSegment, IndexPutReceipt, IndexSnapshot, SegmentIndex } from './segment-index.js';
import { SegmentTimeline } from './segment-timeline.js';
import type { StorageAdapter } from './storage-adapter.js';
import { putWithin } from './storage-write.js';
import type { UploadSlots } from './upload-slots.js';

/**
 * The live playlist lists the newest segments that last at least this many target durations: more than
 * the three RFC 8216 §6.2.2 asks of a live playlist before a segment may leave it, so that a player
 * that reloads late still finds where it was.
 */
export const LIVE_WINDOW_TARGET_DURATIONS = 6;

/**
 * While recording, the complete playlist is rewritten once the media it does not list yet reaches this
 * share of the media it lists (and at the end). Each rewrite then lists at least this much more than the
 * one before, so the rewrites form a geometric series: with the final write, all of them together are
 * at most (2 + 1 / fraction) = 22 times the final playlist's size, a constant amount per segment however
 * long the recording. In exchange it lags: while recording it lacks at most the newest 5% of the media it
 * lists (72 min of a 24 h recording), where the live playlist lacks nothing but the segment in flight.
 */
export const COMPLETE_LAG_FRACTION = 0.05;

/** How many times a playlist writer re-renders when the index moved under its write. */
const SETTLE_ROUNDS = 5;

export interface PlaylistStoreOptions {
  slots?: UploadSlots | undefined;
  /** Limit of one put attempt (STORAGE_TIMEOUT after it). */
  timeoutMs?: number;
}

/** What one writer has put: the bytes, for the benchmarks' accounting and the tests. */
export interface PlaylistWrite {
  key: string;
  bytes: number;
  kind: 'live' | 'complete';
}

/**
 * Keeps one recording's two playlists current in its primary store, as the owner of the recording:
 *
 * - **live** (`<base>.live.m3u8`), rewritten after every segment: the newest segments (at least
 *   LIVE_WINDOW_TARGET_DURATIONS target durations), EXT-X-MEDIA-SEQUENCE and
 *   EXT-X-DISCONTINUITY-SEQUENCE moving with the window — a constant size whatever the length;
 * - **complete** (`<base>.m3u8`, EVENT), every segment: rewritten on the schedule of
 *   COMPLETE_LAG_FRACTION while recording, and at the end.
 *
 * Both are rendered from a SegmentTimeline read from the index once; afterwards each put of this writer
 * says whether anyone else wrote (SegmentIndex.put's receipt), and each playlist write is followed by a
 * version check, so per segment the index costs a constant number of small Redis round trips.
 *
 * Other writers of the same playlists — a fenced predecessor delivering its reserved segments late,
 * spool recovery, the drain — render both from the whole index (rebuildPlaylists). Stores offer no
 * compare-and-set common to all vendors, so every writer checks the index's version after its puts and
 * writes again from a fresh read when it moved: the last put to land always renders the latest index,
 * and ENDLIST once the recording ended. The owner that learns of another writer (a stale receipt, a
 * moved version) reads the whole index again and rewrites both playlists at once.
 */
export class RecordingPlaylists {
  private timeline: SegmentTimeline | undefined;
  /** The index version the timeline reflects. */
  private version = '';
  /** The recording has ended (someone marked it): every playlist written from now on ends. */
  private ended = false;
  /** This writer no longer owns the recording: it renders from the whole index each time. */
  private late = false;
  /** What the last complete playlist this writer put listed. */
  private completeListed = { segments: 0, seconds: 0 };
  /** Another writer may have replaced the complete playlist: rewrite it with the next segment. */
  private completeStale = false;
  /** A late writer delivered segments its playlists do not list yet (see afterSegment). */
  private lateRebuildDue = false;
  readonly writes: PlaylistWrite[] | undefined;

  constructor(
    private readonly store: StorageAdapter,
    private readonly keys: RecordingObjectKeys,
    private readonly index: SegmentIndex,
    private readonly options: PlaylistStoreOptions & { recordWrites?: boolean } = {},
  ) {
    this.writes = options.recordWrites ? [] : undefined;
  }

  private backupInIndex: readonly number[] = [];

  /** The version to put the next segment with (the whole index is read the first time). */
  async knownVersion(): Promise<string | undefined> {
    if (this.late) return undefined;
    if (!this.timeline) this.take(await this.index.snapshot());
    return this.version;
  }

  /** Takes this writer's own put into the view (or reads the index again when it was not alone). */
  async recorded(entry: IndexedSegment, receipt: IndexPutReceipt): Promise<void> {
    if (!receipt.owner) this.late = true;
    if (this.late) return;
    if (receipt.stale || !this.timeline) {
      this.take(await this.index.snapshot());
      this.completeStale = true;
      return;
    }
    this.timeline.add(entry);
    this.version = receipt.version;
  }

  /**
   * After a delivered segment: the live playlist, and the complete one when it is due. A late writer
   * rebuilds both from the whole index, once its queue is through (`moreQueued` false): spool recovery
   * of many segments reads the index once, not once per segment. Rejects with the store's error (the
   * caller retries; every attempt renders anew).
   */
  async afterSegment(moreQueued = false): Promise<void> {
    if (this.late || !this.timeline) {
      this.lateRebuildDue = true;
      if (!moreQueued) await this.lateRebuild();
      return;
    }
    const t = this.timeline;
    const tail = t.totalSeconds - this.completeListed.seconds;
    const due =
      this.completeStale ||
      (t.length > this.completeListed.segments &&
        tail >= COMPLETE_LAG_FRACTION * this.completeListed.seconds);
    await this.writeFromView(due);
  }

  /**
   * The final playlists, both (with ENDLIST unless `ended` is false: a hand-off, the recording goes on
   * elsewhere). Rendered from this writer's view when the index has not moved since it was taken (the
   * view is then the index), else from the whole index.
   */
  async finish(ended: boolean): Promise<void> {
    const known = this.timeline && !this.late ? this.version : undefined;
    let fresh = false;
    if (ended) {
      const receipt = await this.index.markEnded(known);
      this.ended = true;
      fresh = known !== undefined && !receipt.stale;
      if (fresh) this.version = receipt.version;
    } else if (known !== undefined) {
      fresh = (await this.index.version()) === known;
    }
    if (fresh) await this.writeFromView(true);
    else await this.rebuild(ended);
  }

  /**
   * What a late writer still owes the playlists, written even when it is not to finish them
   * (`finish({ writePlaylist: false })` of a fenced session): its delivered segments must be listed.
   */
  async lateRebuild(): Promise<void> {
    if (!this.lateRebuildDue) return;
    await this.rebuild(false);
    this.lateRebuildDue = false;
  }

  /** Puts the live playlist (and the complete one), then checks that the index did not move meanwhile. */
  private async writeFromView(complete: boolean): Promise<void> {
    for (let round = 1; ; round++) {
      const t = this.timeline!;
      const listed = { segments: t.length, seconds: t.totalSeconds };
      await Promise.all([this.putLive(t), complete ? this.putComplete(t) : undefined]);
      if (complete) {
        this.completeListed = listed;
        this.completeStale = false;
      }
      const now = await this.index.version();
      if (now === this.version || round >= SETTLE_ROUNDS) return;
      // Someone else wrote (or marked the end) while our puts were in flight: theirs may have landed
      // after ours, or ours after theirs. Read everything again and write both.
      this.take(await this.index.snapshot());
      complete = true;
    }
  }

  /** Both playlists from the whole index, until the index holds still across a write. */
  private async rebuild(ended: boolean): Promise<void> {
    let snapshot = await this.index.snapshot();
    for (let round = 1; ; round++) {
      this.noteBackups(snapshot);
      const t = SegmentTimeline.of(snapshot.segments);
      const isEnded = ended || snapshot.ended || this.ended;
      await Promise.all([this.putLive(t, isEnded), this.putComplete(t, isEnded)]);
      const now = await this.index.version();
      if (now === snapshot.version || round >= SETTLE_ROUNDS) return;
      snapshot = await this.index.snapshot();
    }
  }

  /**
   * Segments the index had in the backup store when this writer last read it whole: an earlier owner's
   * (before a hand-off, a crash, a partition) are this recording's too, and only the index tells.
   */
  get backedUpInIndex(): readonly number[] {
    return this.backupInIndex;
  }

  private noteBackups(snapshot: IndexSnapshot): void {
    this.backupInIndex = snapshot.segments.filter((s) => s.location === 'backup').map((s) => s.sequence);
  }

  private take(snapshot: IndexSnapshot): void {
    this.noteBackups(snapshot);
    this.timeline = SegmentTimeline.of(snapshot.segments);
    this.version = snapshot.version;
    if (snapshot.ended) this.ended = true;
  }

  private putLive(t: SegmentTimeline, ended = this.ended): Promise<void> {
    const { entries, discontinuitySequence } = t.window(
      LIVE_WINDOW_TARGET_DURATIONS * t.targetDuration,
      this.keys.segmentName,
    );
    const text = renderLivePlaylist(entries, {
      ended,
      targetDuration: t.targetDuration,
      discontinuitySequence,
    });
    return this.put(this.keys.livePlaylistKey, text, 'live');
  }

  private putComplete(t: SegmentTimeline, ended = this.ended): Promise<void> {
    return this.put(
      this.keys.playlistKey,
      renderPlaylist(t.entries(this.keys.segmentName), { ended }),
      'complete',
    );
  }

  private async put(key: string, text: string, kind: PlaylistWrite['kind']): Promise<void> {
    const data = Buffer.from(text, 'utf8');
    await putWithin(
      this.store,
      key,
      { data, contentType: 'application/vnd.apple.mpegurl' },
      this.options.timeoutMs ?? 60_000,
      this.options.slots,
    );
    this.writes?.push({ key, bytes: data.length, kind });
  }
}

/**
 * Writes a recording's live and complete playlists from the whole index, as every writer that does not
 * own the recording does (spool recovery, the drain, a fenced predecessor): a late writer that read an
 * older index writes again once it sees the index moved, and keeps ENDLIST once the recording ended.
 */
export async function rebuildPlaylists(
  store: StorageAdapter,
  keys: RecordingObjectKeys,
  index: SegmentIndex,
  ended: boolean,
  options: PlaylistStoreOptions = {},
): Promise<void> {
  const playlists = new RecordingPlaylists(store, keys, index, options);
  await playlists.finish(ended);
}
