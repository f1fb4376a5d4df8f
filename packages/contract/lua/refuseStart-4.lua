--[[
  Ends, as it starts, a recording whose job was added without a producer's start (a bare BullMQ
  Queue.add) while another recording of the same identity (app, channel, uid) is active: producers start
  at most one recording per identity, and a worker taking such a job answers as startRecording-5 would
  have — the id is not started. So that the producer can tell (the HTTP API, the CLI, its callbackUrl),
  the refused id gets a record like any ended recording: state `failed`, its `queued` and `fatal_error`
  events (the one terminal event, `terminal`), the list index entry and the webhook registration. The
  identity's active key is not touched: it stays the other recording's.

  KEYS[1] recording record (hash)
  KEYS[2] recording events (stream)
  KEYS[3] list index (sorted set: recording id by creation time)
  KEYS[4] webhook work list (set of recording ids)
  ARGV[1] recording id
  ARGV[2] now, ms since epoch
  ARGV[3] app id
  ARGV[4] channel
  ARGV[5] uid
  ARGV[6] callback URL, or '' for none
  ARGV[7] what the job records (recordingKind: `single_stream` or `channel`)
  ARGV[8] error code (RECORDING_ACTIVE)
  ARGV[9] error message
  ARGV[10] the fatal_error event's data (JSON: code, message, and the active recording's id)
  Output: 1 when the refusal was recorded; 0 when the recording exists (it was started meanwhile)
]]
if redis.call('HEXISTS', KEYS[1], 'recordingId') == 1 then
  return 0
end
redis.call('HSET', KEYS[1], 'recordingId', ARGV[1], 'state', 'failed', 'appId', ARGV[3], 'channel', ARGV[4],
  'uid', ARGV[5], 'createdAt', ARGV[2], 'updatedAt', ARGV[2], 'startedBy', 'worker', 'kind', ARGV[7],
  'errorCode', ARGV[8], 'errorMessage', ARGV[9], 'terminal', 'fatal_error')
if ARGV[6] ~= '' then
  redis.call('HSET', KEYS[1], 'callbackUrl', ARGV[6])
  redis.call('SADD', KEYS[4], ARGV[1])
end
redis.call('XADD', KEYS[2], '*', 'type', 'queued', 'at', ARGV[2], 'data', '{}')
redis.call('XADD', KEYS[2], '*', 'type', 'fatal_error', 'at', ARGV[2], 'data', ARGV[10])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
return 1
