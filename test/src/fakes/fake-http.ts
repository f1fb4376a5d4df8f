import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

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

/** A fake's HTTP server on a free loopback port. */
export interface LoopbackServer {
  url: string;
  port: number;
  /** Stops listening and drops every open connection (clients' keep-alive ones included). */
  close(): Promise<void>;
}

/**
 * Serves `handle` on a free loopback port. A handler that throws answers `errorStatus` with the error
 * text (unless it has already started its answer), as the fakes' callers want to see it, not a hang.
 */
export async function serveLoopback(
  handle: (req: IncomingMessage, res: ServerResponse) => Promise<void>,
  errorStatus = 502,
): Promise<LoopbackServer> {
  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(errorStatus).end(String(err));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
