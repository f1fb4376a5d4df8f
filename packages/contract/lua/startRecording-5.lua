--[[
  Starts a recording, atomically and idempotently: refuses when the record exists (same recording id)
  or when the identity (app, channel, uid) has another active recording; otherwise creates the record,
  its `queued` event, the identity's active key, the list index entry and the webhook registration.
  Producers run it before they add the job (RecordingClient.start); a worker runs it when it takes a
  job no producer started (a bare BullMQ Queue.add), so that such a job gets the same. A record exists
  once it has its `recordingId`: one without it is completed, keeping what it holds — a stop or cancel
  request (`control`, written before any worker took a bare job), or the state and creation time a
  worker wrote for a bare job before workers started them (no second `queued` event then).

  KEYS[1] recording record (hash)
  KEYS[2] recording events (stream)
  KEYS[3] the identity's active key (string: recording id)
  KEYS[4] list index (sorted set: recording id by creation time)
  KEYS[5] webhook work list (set of recording ids)
  ARGV[1] recording id
  ARGV[2] now, ms since epoch
  ARGV[3] app id
  ARGV[4] channel
  ARGV[5] uid
  ARGV[6] callback URL, or '' for none
  ARGV[7] where the start came from: 'client' (RecordingClient) or 'worker' (a raw BullMQ job: written
          by the worker that takes it, or by the first producer-side read, stop or cancel before that)
  ARGV[8] optional: what the job records, `single_stream` or `channel` (recordingKind of the job)
  ARGV[9] optional, channel recordings: the job's subscriptions (JSON), stored as version 0
  Output: {'created', id} | {'exists', id} (the record exists) | {'active', otherId} (identity busy)
]]
if redis.call('HEXISTS', KEYS[1], 'recordingId') == 1 then
  return {'exists', ARGV[1]}
end
local current = redis.call('GET', KEYS[3])
if current and current ~= ARGV[1] then
  return {'active', current}
end
redis.call('SET', KEYS[3], ARGV[1])
local fresh = redis.call('HSETNX', KEYS[1], 'state', 'queued') == 1
redis.call('HSETNX', KEYS[1], 'createdAt', ARGV[2])
local createdAt = redis.call('HGET', KEYS[1], 'createdAt')
redis.call('HSET', KEYS[1], 'recordingId', ARGV[1], 'appId', ARGV[3], 'channel', ARGV[4], 'uid', ARGV[5],
  'updatedAt', ARGV[2], 'activeKey', KEYS[3], 'startedBy', ARGV[7])
if ARGV[8] and ARGV[8] ~= '' then
  redis.call('HSET', KEYS[1], 'kind', ARGV[8])
end
if ARGV[9] and ARGV[9] ~= '' then
  redis.call('HSET', KEYS[1], 'subscriptions', ARGV[9], 'subscriptionsVersion', 0)
end
if ARGV[6] ~= '' then
  redis.call('HSET', KEYS[1], 'callbackUrl', ARGV[6])
  redis.call('SADD', KEYS[5], ARGV[1])
end
if fresh then
  redis.call('XADD', KEYS[2], '*', 'type', 'queued', 'at', ARGV[2], 'data', '{}')
end
redis.call('ZADD', KEYS[4], createdAt, ARGV[1])
return {'created', ARGV[1]}
