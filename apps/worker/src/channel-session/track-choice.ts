import {
  isSubscribed,
  SubscriptionsShape,
  subscriptionsOf,
  trackTypeOf,
  type StreamTypes,
  type Subscriptions,
  type TrackType,
  type UserNotRecordedReason,
} from '@recfleet/contract';
import { z } from 'zod';
import type { ChannelUser } from './channel-directory.js';

/** What a channel recording makes of one user now: a track of a type, or a reason not to record them. */
export type TrackChoice = { type: TrackType } | { notRecorded: Exclude<UserNotRecordedReason, 'max_users'> };

export interface ChoiceRules {
  /** The recorder's own uid: a publisher using it is never recorded. */
  recorderUid: number;
  subscriptions: Subscriptions;
  /** The job's streamTypes, applied to every user. */
  streamTypes: StreamTypes;
}

/**
 * A user's track type is what they publish, less what the recording does not subscribe (per kind, by
 * the reference service's rules) and less what the job's streamTypes leave out. maxUsers is not
 * decided here: it depends on the other users (see ChannelRecordingSession).
 */
export function chooseTrack(user: ChannelUser, rules: ChoiceRules): TrackChoice {
  if (user.uid === rules.recorderUid) return { notRecorded: 'recorder_uid' };
  const audio =
    user.audio && rules.streamTypes !== 'video' && isSubscribed(rules.subscriptions, user.uid, 'audio');
  const video =
    user.video && rules.streamTypes !== 'audio' && isSubscribed(rules.subscriptions, user.uid, 'video');
  const type = trackTypeOf({ audio, video });
  return type ? { type } : { notRecorded: 'unsubscribed' };
}

const SubscriptionsSchema = z.object(SubscriptionsShape).strict();

/** The subscriptions stored on a record (an update's, or the job's); undefined when unreadable. */
export function parseSubscriptions(json: string | undefined): Subscriptions | undefined {
  try {
    const parsed = SubscriptionsSchema.safeParse(JSON.parse(json ?? '{}'));
    return parsed.success ? subscriptionsOf(parsed.data) : undefined;
  } catch {
    return undefined;
  }
}
