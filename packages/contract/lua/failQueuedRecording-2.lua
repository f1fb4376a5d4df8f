--[[
  Ends a recording that never ran: its job was removed from the queue before any worker took it
  (cancelled while queued) or could not be enqueued at all. Only a record still `queued` is changed,
  so a recording a worker has taken meanwhile keeps the state its worker writes. Appends the
  `fatal_error` event, so that followers, server-sent events and webhooks end as for any failure, and
  records it as the recording's one terminal event (`terminal`): no worker finishes it again.

  KEYS[1] recording record (hash)
  KEYS[2] recording events (stream)
  ARGV[1] error code (CANCELLED, INTERNAL)
  ARGV[2] error message
  ARGV[3] now, ms since epoch
  ARGV[4] event data (JSON: code and message)
  Output: 1 when the recording was ended; 0 when it was no longer queued
]]
local f = redis.call('HMGET', KEYS[1], 'state', 'terminal')
if f[1] ~= 'queued' or f[2] then
  return 0
end
redis.call('HSET', KEYS[1], 'state', 'failed', 'errorCode', ARGV[1], 'errorMessage', ARGV[2],
  'updatedAt', ARGV[3], 'terminal', 'fatal_error')
redis.call('XADD', KEYS[2], '*', 'type', 'fatal_error', 'at', ARGV[3], 'data', ARGV[4])
return 1
