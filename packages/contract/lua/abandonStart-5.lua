--[[
  Undoes a start whose job Redis refused to enqueue (nothing was added to the queue): deletes what
  startRecording-5 wrote, so that the recording id, and its identity (app, channel, uid), can start
  again. Only a record still `queued` and never claimed by a worker (no `epoch`) is removed; the active
  key only while it names this recording.

  KEYS[1] recording record (hash)
  KEYS[2] recording events (stream)
  KEYS[3] the identity's active key (string: recording id)
  KEYS[4] list index (sorted set: recording id by creation time)
  KEYS[5] webhook work list (set of recording ids)
  ARGV[1] recording id
  Output: 1 when the start was undone; 0 when the record was not (or no longer) an unclaimed queued one
]]
if redis.call('HGET', KEYS[1], 'state') ~= 'queued' or redis.call('HEXISTS', KEYS[1], 'epoch') == 1 then
  return 0
end
redis.call('DEL', KEYS[1], KEYS[2])
if redis.call('GET', KEYS[3]) == ARGV[1] then
  redis.call('DEL', KEYS[3])
end
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('SREM', KEYS[5], ARGV[1])
return 1
