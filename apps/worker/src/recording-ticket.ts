import { isRecfleetErrorCode, type RecordingResult } from '@recfleet/contract';
import type { Logger } from 'pino';
import { RecordingFailedError } from './recording-failure.js';
import type { ClaimOutcome, RecordingRecord } from './recording-record.js';
import type { RecordingOwnership } from './recording-ownership.js';

/** How a ticket ended: the recording's outcome, this worker's claim, or the job given back. */
export type TicketEnd =
  | { type: 'result'; result: RecordingResult }
  | { type: 'failed'; failure: RecordingFailedError }
  | { type: 'claimed' }
  | { type: 'released' };

export interface TicketOptions {
  record: RecordingRecord;
  ownership: RecordingOwnership;
  pollMs: number;
  /** The end of this process's own session of the recording, while one runs (it is the owner then). */
  localEnd(): Promise<unknown> | undefined;
  /**
   * Reserves room to record it (admission), before a claim that may make this worker its owner: false
   * when the host is full, and the job goes back. Reserved before the claim, not checked, so that two
   * tickets claiming at once cannot both take the last room.
   */
  reserve(): boolean;
  /** Gives back what `reserve` took (the claim was refused: the owner is alive). */
  unreserve(): void;
  /**
   * Takes this process's one right to claim the recording: false while another of its tickets of the
   * recording claims or records it (a job given again after its lock lapsed, while its first run still
   * holds it), and this ticket keeps holding. Two claims from one process would make two sessions of one
   * recording, sharing its spool folder.
   */
  takeClaim(): boolean;
  /** Gives the right back (the claim was refused). */
  dropClaim(): void;
  /** The worker is closing: give the job back. */
  closing(): boolean;
  log: Logger;
}

/**
 * The BullMQ job of a recording is its ticket, not its ownership: the owner is whoever holds the claim
 * and heartbeats (RecordingOwnership). A worker holds a job whose recording another worker owns — it got
 * the job after the owner's job lock lapsed in an outage of Redis, while the owner recorded on — as a
 * ticket holder: it keeps the job (BullMQ renews its lock), watches the record, claims the recording if
 * the owner's heartbeat goes stale (and then records it, resuming), and when the recording ends completes
 * or fails the job with the outcome its owner wrote on the record. So the job ends once, with the
 * recording's one outcome, whoever held it.
 */
export class RecordingTicket {
  constructor(private readonly o: TicketOptions) {}

  /** Holds the ticket from a refused claim until the recording ends, this worker claims it, or closing. */
  async hold(first: Exclude<ClaimOutcome, { type: 'claimed' }> | undefined): Promise<TicketEnd> {
    let outcome: ClaimOutcome | undefined = first;
    let told = false;
    for (;;) {
      if (outcome?.type === 'ended') return recordedOutcome(this.o.record);
      if (outcome?.type === 'claimed') return { type: 'claimed' };
      const local = this.o.localEnd();
      if (!told) {
        told = true;
        const owner = outcome
          ? { owner: outcome.owner, ownerHost: outcome.ownerHost, why: outcome.type }
          : {};
        const who = local ? 'this process records it' : 'another worker records it';
        this.o.log.info(owner, `${who}: holding its job until it ends`);
      }
      if (this.o.closing()) return { type: 'released' };
      // This process records it: its end is the news to wait for, beside the poll.
      await Promise.race([local ?? new Promise(() => undefined), sleep(this.o.pollMs)]);
      if (local) {
        outcome = (await this.o.record.ended()) ? { type: 'ended', state: '' } : undefined;
        continue;
      }
      if (!this.o.takeClaim()) continue;
      // Full since it took the job: a host with room holds it better (it could take the recording over).
      if (!this.o.reserve()) {
        this.o.dropClaim();
        return { type: 'released' };
      }
      try {
        outcome = await this.o.ownership.claim();
      } finally {
        if (outcome?.type !== 'claimed') {
          this.o.unreserve();
          this.o.dropClaim();
        }
      }
    }
  }
}

/** A finished recording's outcome from its record: the result its owner wrote, or its failure with the code. */
export async function recordedOutcome(
  record: RecordingRecord,
): Promise<Extract<TicketEnd, { type: 'result' | 'failed' }>> {
  const f = await record.fields('state', 'result', 'errorCode', 'errorMessage');
  if (f.state === 'failed' || !f.result) {
    const code = isRecfleetErrorCode(f.errorCode) ? f.errorCode : 'INTERNAL';
    return {
      type: 'failed',
      failure: new RecordingFailedError(code, f.errorMessage ?? 'the recording failed'),
    };
  }
  return { type: 'result', result: JSON.parse(f.result) as RecordingResult };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
