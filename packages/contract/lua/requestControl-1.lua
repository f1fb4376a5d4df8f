--[[
  Records a producer's stop or cancel request on the recording's durable record, where the worker
  running it (or the next one to take it) acts on it. Refused for a recording that does not exist, or
  that has already ended: checked and written in one step, so a request is never stored on a record
  that reached a final state meanwhile.

  KEYS[1] recording record (hash: `state`, `control`)
  ARGV[1] the request (`stop` or `cancel`)
  ARGV[2] now, ms since epoch
  ARGV[3..] the final states (FINAL_STATES of the vocabulary)
  Output: {'requested', state} when stored; {'ended', state} when the recording is over;
          {'not_found', ''} when there is no record
]]
local state = redis.call('HGET', KEYS[1], 'state')
if not state then
  return {'not_found', ''}
end
for i = 3, #ARGV do
  if state == ARGV[i] then
    return {'ended', state}
  end
end
redis.call('HSET', KEYS[1], 'control', ARGV[1], 'controlAt', ARGV[2])
return {'requested', state}
