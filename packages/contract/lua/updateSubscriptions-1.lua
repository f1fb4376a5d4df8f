--[[
  Replaces a running channel recording's subscriptions (a producer's update), atomically: refused for a
  recording that does not exist, that has ended, or that records one stream; written only when the
  subscriptions are still the version the producer merged its update into (compare-and-set: the merge
  and its checks are the contract's, in TypeScript). The version is incremented; the worker owning the
  recording polls it and applies the new subscriptions (event `updated`), and a new owner reads them at
  claim.

  KEYS[1] recording record (hash: `state`, `kind`, `subscriptions`, `subscriptionsVersion`)
  ARGV[1] the new subscriptions (JSON)
  ARGV[2] the version they were merged into ('' when the record has none yet)
  ARGV[3] now, ms since epoch
  ARGV[4] the recording's kind from its job data ('' when unknown), used when the record has none
  ARGV[5..] the final states (FINAL_STATES of the vocabulary)
  Output: {'updated', version} | {'changed', version} (merged into an older version: merge again) |
          {'ended', state} | {'not_a_channel', kind} | {'not_found', ''}
]]
local state = redis.call('HGET', KEYS[1], 'state')
if not state then
  return {'not_found', ''}
end
for i = 5, #ARGV do
  if state == ARGV[i] then
    return {'ended', state}
  end
end
local kind = redis.call('HGET', KEYS[1], 'kind') or ARGV[4]
if kind ~= 'channel' then
  return {'not_a_channel', kind}
end
local version = redis.call('HGET', KEYS[1], 'subscriptionsVersion') or ''
if version ~= ARGV[2] then
  return {'changed', version}
end
local next = redis.call('HINCRBY', KEYS[1], 'subscriptionsVersion', 1)
redis.call('HSET', KEYS[1], 'subscriptions', ARGV[1], 'kind', kind, 'updatedAt', ARGV[3])
return {'updated', tostring(next)}
