import {
  DEFAULT_STREAM_TYPES,
  describeNumberRule,
  EXIT_CODES,
  MAX_DURATION_SECONDS_RULE,
  MAX_IDLE_SECONDS_RULE,
  RECORDING_STATES,
  SEGMENT_SECONDS_RULE,
  STREAM_TYPES,
  UID_RULE,
} from '@recfleet/contract';
import { describe, expect, it } from 'vitest';
import { LIST_LIMIT_RULE } from '@recfleet/client';
import { COMMANDS } from './commands.js';
import { commandHelp, toolHelp } from './run.js';

function help(command: string): string {
  return commandHelp(COMMANDS.find((c) => c.name === command)!);
}

/** The help line of one flag. */
function flagLine(text: string, flag: string): string {
  return text.split('\n').find((l) => l.includes(`--${flag} `)) ?? '';
}

describe('the help is derived from the contract', () => {
  it("states each start option's range and default as the job rules define them", () => {
    const start = help('start');
    expect(flagLine(start, 'uid')).toContain(describeNumberRule(UID_RULE));
    expect(flagLine(start, 'segment-seconds')).toContain(describeNumberRule(SEGMENT_SECONDS_RULE));
    expect(flagLine(start, 'max-idle-seconds')).toContain(describeNumberRule(MAX_IDLE_SECONDS_RULE));
    expect(flagLine(start, 'max-duration-seconds')).toContain(describeNumberRule(MAX_DURATION_SECONDS_RULE));
    expect(flagLine(start, 'stream-types')).toContain(
      `${STREAM_TYPES.join(' | ')} (default ${DEFAULT_STREAM_TYPES})`,
    );
    // What the rules say today, so that a change in a rule is seen here too.
    expect(flagLine(start, 'max-idle-seconds')).toContain('an integer 5–3600 (default 30)');
  });

  it('lists every state and the list limit', () => {
    const list = help('list');
    expect(flagLine(list, 'state')).toContain(RECORDING_STATES.join(' | '));
    expect(flagLine(list, 'limit')).toContain(describeNumberRule(LIST_LIMIT_RULE));
  });

  it('lists every exit code of the contract', () => {
    const tool = toolHelp();
    for (const code of Object.values(EXIT_CODES)) expect(tool).toMatch(new RegExp(`^  ${code}  \\S`, 'm'));
    expect(tool).toMatch(/^ {2}6 {2}the recording has already ended/m);
  });
});
