import type { RecordingEventType } from '@recfleet/contract';
import type { Logger } from 'pino';
import type { OwnerWrite, RecordFields, RecordingRecord } from './recording-record.js';

/**
 * Writes queued per recording at most. An outage of an hour at 2 s segments is ~1,800 `segment` events
 * for a single stream (~30,000 for a channel of 17 users), and progress events are coalesced, so this is
 * room for long outages; beyond it further events are dropped (counted and logged) while the record's
 * state changes are still kept — the segment index, not the events, is what the playlist is made of.
 */
const MAX_QUEUED = 50_000;

type Entry =
  | { kind: 'event'; type: RecordingEventType; data: Record<string, unknown>; at: number }
  | { kind: 'fields'; fields: RecordFields; remove: string[] };

/**
 * The owner's writes to its recording's record and event stream, in the order they happened, one at a
 * time (livekit/egress's ordered status updates): each is fenced by the owner's epoch (appendEvent-2,
 * updateRecord-1), so a worker that has lost the recording writes nothing more — the first refusal
 * tells it (`onFenced`) and the rest is dropped. While Redis is unreachable writes wait here, in order,
 * with a waiting `progress` event replaced by the newer one, and go out when it answers again: events keep the
 * time they happened (`at`). Each event written is mirrored to the job's log.
 */
export class EventOutbox {
  private readonly queue: Entry[] = [];
  private pumping: Promise<void> | undefined;
  private closed = false;
  private dropped = 0;

  constructor(
    private readonly record: RecordingRecord,
    private readonly epoch: number,
    private readonly mirror: (line: string) => Promise<unknown>,
    private readonly onFenced: (reason: string) => void,
    private readonly log: Logger,
  ) {}

  /** Queues an event. */
  event(type: RecordingEventType, data: Record<string, unknown>, at = Date.now()): void {
    if (this.closed) return;
    if (type === 'progress') {
      // A progress event is a snapshot of totals: a newer one makes any still waiting worthless.
      const waiting = this.queue.findIndex((e) => e.kind === 'event' && e.type === 'progress');
      if (waiting >= 0) this.queue.splice(waiting, 1);
    }
    if (this.queue.length >= MAX_QUEUED) {
      if (this.dropped++ === 0)
        this.log.warn({ queued: this.queue.length }, 'events dropped: too many waiting');
      return;
    }
    this.queue.push({ kind: 'event', type, data, at });
    this.pump();
  }

  /** Queues a write of record fields (and deletion of `remove`). */
  fields(fields: RecordFields, remove: string[] = []): void {
    if (this.closed) return;
    this.queue.push({ kind: 'fields', fields, remove });
    this.pump();
  }

  /** Resolves once everything queued so far has been written (or refused). */
  async drained(): Promise<void> {
    while (this.pumping) await this.pumping;
  }

  /** Drops what is queued and takes nothing more (the recording is not this worker's any more). */
  close(): void {
    this.closed = true;
    this.queue.length = 0;
  }

  private pump(): void {
    if (this.pumping) return;
    this.pumping = (async () => {
      for (let entry = this.queue.shift(); entry; entry = this.queue.shift()) await this.write(entry);
    })().finally(() => {
      this.pumping = undefined;
      if (this.queue.length > 0) this.pump();
    });
  }

  private async write(entry: Entry): Promise<void> {
    let written: OwnerWrite;
    try {
      written =
        entry.kind === 'event'
          ? await this.record.appendEvent(this.epoch, entry.type, entry.data, entry.at)
          : await this.record.update(this.epoch, entry.fields, entry.remove);
    } catch (err) {
      this.log.warn({ err, write: entry.kind === 'event' ? entry.type : 'fields' }, 'record write failed');
      return;
    }
    if (written === 'fenced') {
      this.close();
      this.onFenced(`epoch ${this.epoch} no longer owns the recording (a record write was refused)`);
      return;
    }
    if (written === 'written' && entry.kind === 'event') {
      const line = `${new Date(entry.at).toISOString()} ${entry.type} ${JSON.stringify(entry.data)}`;
      await this.mirror(line).catch((err: unknown) => this.log.warn({ err }, 'job log not written'));
    }
  }
}
