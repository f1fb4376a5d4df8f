import { channelDemo } from './channel-demo.js';
import type { DemoCleanup, DemoOptions } from './demo-stack.js';
import { singleStreamDemo } from './single-stream-demo.js';

export interface DemoVariant {
  /** One line for `--help`. */
  summary: string;
  run(options: DemoOptions, cleanup: DemoCleanup): Promise<number>;
}

/** `./run demo [variant]`: the first is the default. */
export const DEMO_VARIANTS = {
  channel: {
    summary:
      'a channel of two users (the second joins late, leaves early): a playlist per user + the manifest',
    run: channelDemo,
  },
  single: {
    summary: 'one stream recorded by its URL into one playlist',
    run: singleStreamDemo,
  },
} satisfies Record<string, DemoVariant>;

export type DemoVariantName = keyof typeof DEMO_VARIANTS;
export const DEFAULT_VARIANT: DemoVariantName = 'channel';

export function isDemoVariant(name: string): name is DemoVariantName {
  return Object.hasOwn(DEMO_VARIANTS, name);
}
