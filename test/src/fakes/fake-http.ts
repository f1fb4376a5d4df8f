import type { IncomingMessage } from 'node:http';

/** Reads a whole request body; the fakes keep objects in memory, so bodies are small by design. */
export async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Flips one byte in the middle, the way a bad NIC or disk would. */
export function flipByte(data: Buffer): Buffer {
  if (data.length === 0) return data;
  const copy = Buffer.from(data);
  const at = Math.floor(copy.length / 2);
  copy[at] = copy[at]! ^ 0xff;
  return copy;
}

/** Switches a test flips to make a server misbehave the way the real service sometimes does. */
export interface StoreFaults {
  /** Answer the next N requests with the service's throttling error. */
  throttleNext: number;
  /** Flip a byte of every received object or part body before it is checked and stored. */
  corruptBodies: boolean;
  /** Report a wrong ETag/hash for uploads while storing the right bytes. */
  wrongEtag: boolean;
}

export function noFaults(): StoreFaults {
  return { throttleNext: 0, corruptBodies: false, wrongEtag: false };
}
