import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';

export interface ReceivedWebhook {
  /** The request's target (path and query). */
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
  status: number;
  at: number;
}

/**
 * A local webhook receiver: keeps every request (headers and raw body) and answers each with what
 * `respond` decides (200 by default).
 */
export class WebhookReceiver {
  readonly requests: ReceivedWebhook[] = [];
  respond: (headers: IncomingHttpHeaders, body: string) => number = () => 200;

  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(): Promise<WebhookReceiver> {
    const holder: { r?: WebhookReceiver } = {};
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const status = holder.r!.respond(req.headers, body);
        holder.r!.requests.push({ url: req.url ?? '', headers: req.headers, body, status, at: Date.now() });
        res.writeHead(status, { 'content-type': 'text/plain' }).end(status < 300 ? 'ok' : 'no');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    holder.r = new WebhookReceiver(server, `http://127.0.0.1:${port}/hooks/recfleet`);
    return holder.r;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
