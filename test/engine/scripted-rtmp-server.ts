// A small RTMP server for the tests of the engine's RTMP client: it plays an FLV file made by ffmpeg the
// way a test tells it to (the chunk size, Set Chunk Size mid-stream, Window Acknowledgement Size, ping
// requests, aggregate messages, a refused play, a stall) and records what the client sent. Servers in
// the field (node-media-server, SRS, nginx-rtmp, Wowza) differ in exactly these choices; the embedded
// channel server makes only one of them (chunks of 65535, no pings), so these tests script the others.
import { readFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';

export interface ScriptedRtmpOptions {
  /** The FLV file played (its tags become messages, paced by their timestamps). */
  flv: string;
  /** Chunk size announced with Set Chunk Size right after connect (default 128: none sent). */
  chunkSize?: number;
  /** After this long playing, announce and use this chunk size instead. */
  rechunk?: { afterMs: number; chunkSize: number };
  /** Window Acknowledgement Size sent after connect (none by default). */
  windowAckSize?: number;
  /** Send a ping request this often while playing. */
  pingIntervalMs?: number;
  /** Send media tags this many at a time as one aggregate message (type 22). */
  aggregate?: number;
  /**
   * How the play is answered: `play` (Play.Start, then media), `close` (node-media-server's refusal:
   * Play.Start, then the connection closed), `error` (an error status: NetStream.Play.StreamNotFound).
   */
  answer?: 'play' | 'close' | 'error';
  /** Stop sending anything (the connection stays open) after this long playing. */
  stallAfterMs?: number;
}

/** What the client sent, per connection. */
export interface ClientRecord {
  connect?: Record<string, unknown>;
  play?: string;
  /** The names of the commands it sent, in order (libavformat's client also asks getStreamLength). */
  commands: string[];
  /** Sequence numbers of its acknowledgements (bytes it had received). */
  acks: number[];
  /** The timestamps its ping responses echoed. */
  pongs: number[];
  /** Bytes sent to it so far. */
  sent: number;
}

type Amf = string | number | boolean | null | { [key: string]: Amf };

function amfEncode(values: Amf[]): Buffer {
  const parts: Buffer[] = [];
  const str = (s: string): Buffer => {
    const b = Buffer.from(s, 'utf8');
    const len = Buffer.alloc(2);
    len.writeUInt16BE(b.length);
    return Buffer.concat([len, b]);
  };
  const one = (v: Amf): void => {
    if (typeof v === 'number') {
      const b = Buffer.alloc(9);
      b[0] = 0;
      b.writeDoubleBE(v, 1);
      parts.push(b);
    } else if (typeof v === 'string') {
      parts.push(Buffer.from([2]), str(v));
    } else if (typeof v === 'boolean') {
      parts.push(Buffer.from([1, v ? 1 : 0]));
    } else if (v === null) {
      parts.push(Buffer.from([5]));
    } else {
      parts.push(Buffer.from([3]));
      for (const [k, x] of Object.entries(v)) {
        parts.push(str(k));
        one(x);
      }
      parts.push(Buffer.from([0, 0, 9]));
    }
  };
  values.forEach(one);
  return Buffer.concat(parts);
}

function amfDecode(b: Buffer): Amf[] {
  let p = 0;
  const str = (): string => {
    const n = b.readUInt16BE(p);
    const s = b.toString('utf8', p + 2, p + 2 + n);
    p += 2 + n;
    return s;
  };
  const one = (): Amf => {
    const marker = b[p++];
    switch (marker) {
      case 0:
        p += 8;
        return b.readDoubleBE(p - 8);
      case 1:
        return b[p++] !== 0;
      case 2:
        return str();
      case 5:
      case 6:
        return null;
      case 3: {
        const o: Record<string, Amf> = {};
        while (!(b[p] === 0 && b[p + 1] === 0 && b[p + 2] === 9)) {
          const k = str();
          o[k] = one();
        }
        p += 3;
        return o;
      }
      default:
        throw new Error(`AMF0 marker ${marker} not expected from the client`);
    }
  };
  const out: Amf[] = [];
  while (p < b.length) out.push(one());
  return out;
}

interface FlvTag {
  type: number;
  timestamp: number;
  data: Buffer;
}

function readFlv(path: string): FlvTag[] {
  const b = readFileSync(path);
  const tags: FlvTag[] = [];
  let p = b.readUInt32BE(5) + 4;
  while (p + 11 <= b.length) {
    const size = b.readUIntBE(p + 1, 3);
    const timestamp = b.readUIntBE(p + 4, 3) | (b[p + 7]! << 24);
    if (p + 11 + size > b.length) break;
    tags.push({ type: b[p]!, timestamp, data: b.subarray(p + 11, p + 11 + size) });
    p += 11 + size + 4;
  }
  return tags;
}

/** Splits one message into chunks: a type 0 or 1 header, type 3 continuations. */
class ChunkWriter {
  chunkSize = 128;
  private readonly last = new Map<number, { timestamp: number; streamId: number }>();

  message(csid: number, type: number, timestamp: number, streamId: number, payload: Buffer): Buffer {
    const prev = this.last.get(csid);
    const delta = prev && prev.streamId === streamId && timestamp >= prev.timestamp;
    this.last.set(csid, { timestamp, streamId });
    const header = Buffer.alloc(delta ? 8 : 12);
    header[0] = (delta ? 0x40 : 0) | csid;
    header.writeUIntBE(delta ? timestamp - prev!.timestamp : timestamp, 1, 3);
    header.writeUIntBE(payload.length, 4, 3);
    header[7] = type;
    if (!delta) header.writeUInt32LE(streamId, 8);
    const parts: Buffer[] = [header];
    for (let off = 0; off < payload.length; off += this.chunkSize) {
      if (off > 0) parts.push(Buffer.from([0xc0 | csid]));
      parts.push(payload.subarray(off, off + this.chunkSize));
    }
    return Buffer.concat(parts);
  }
}

/** Reads the client's chunks (it sends type 0 and 3 headers in chunks of 128). */
class ChunkParser {
  private buf = Buffer.alloc(0);
  private readonly streams = new Map<number, { type: number; length: number; body: Buffer[]; got: number }>();

  push(data: Buffer, onMessage: (type: number, payload: Buffer) => void): void {
    this.buf = Buffer.concat([this.buf, data]);
    for (;;) {
      if (this.buf.length < 1) return;
      const fmt = this.buf[0]! >> 6;
      const csid = this.buf[0]! & 0x3f;
      const headerSize = 1 + [11, 7, 3, 0][fmt]!;
      if (this.buf.length < headerSize) return;
      let s = this.streams.get(csid);
      if (fmt <= 1) {
        const length = this.buf.readUIntBE(4, 3);
        const type = this.buf[7]!;
        if (!s || s.got === 0) s = { type, length, body: [], got: 0 };
      }
      if (!s) throw new Error(`chunk on unknown chunk stream ${csid}`);
      const take = Math.min(128, s.length - s.got);
      if (this.buf.length < headerSize + take) return;
      s.body.push(this.buf.subarray(headerSize, headerSize + take));
      s.got += take;
      this.buf = this.buf.subarray(headerSize + take);
      this.streams.set(csid, s);
      if (s.got === s.length) {
        onMessage(s.type, Buffer.concat(s.body));
        this.streams.set(csid, { ...s, body: [], got: 0 });
      }
    }
  }
}

export class ScriptedRtmpServer {
  readonly clients: ClientRecord[] = [];
  private readonly sockets = new Set<Socket>();
  private readonly tags: FlvTag[];

  private constructor(
    private readonly server: Server,
    private readonly options: ScriptedRtmpOptions,
  ) {
    this.tags = readFlv(options.flv);
  }

  static async start(options: ScriptedRtmpOptions): Promise<ScriptedRtmpServer> {
    const server = createServer();
    const self = new ScriptedRtmpServer(server, options);
    server.on('connection', (socket: Socket) => self.serve(socket));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return self;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  url(path: string): string {
    return `rtmp://127.0.0.1:${this.port}/${path}`;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private serve(socket: Socket): void {
    this.sockets.add(socket);
    const record: ClientRecord = { acks: [], pongs: [], sent: 0, commands: [] };
    this.clients.push(record);
    const writer = new ChunkWriter();
    const parser = new ChunkParser();
    const timers: NodeJS.Timeout[] = [];
    let stalled = false;
    const send = (b: Buffer): void => {
      if (stalled || socket.destroyed) return;
      record.sent += b.length;
      socket.write(b);
    };
    const control = (type: number, payload: Buffer): void => send(writer.message(2, type, 0, 0, payload));
    const command = (streamId: number, values: Amf[]): void =>
      send(writer.message(3, 20, 0, streamId, amfEncode(values)));
    const be32 = (v: number): Buffer => {
      const b = Buffer.alloc(4);
      b.writeUInt32BE(v >>> 0);
      return b;
    };
    socket.on('close', () => {
      timers.forEach(clearTimeout);
      this.sockets.delete(socket);
    });
    socket.on('error', () => undefined);

    let handshake = Buffer.alloc(0);
    let shaken = false;
    socket.on('data', (data: Buffer) => {
      if (!shaken) {
        handshake = Buffer.concat([handshake, data]);
        if (handshake.length >= 1537 && record.sent === 0) {
          // A plain S1 (version 0): the client answers it with its echo.
          const s1 = Buffer.alloc(1536);
          for (let i = 8; i < 1536; i++) s1[i] = (i * 31) & 0xff;
          send(Buffer.concat([Buffer.from([3]), s1, handshake.subarray(1, 1537)]));
        }
        if (handshake.length < 1537 + 1536) return;
        shaken = true;
        data = handshake.subarray(1537 + 1536);
      }
      parser.push(data, (type, payload) => {
        if (type === 3) record.acks.push(payload.readUInt32BE(0));
        if (type === 4 && payload.readUInt16BE(0) === 7) record.pongs.push(payload.readUInt32BE(2));
        if (type !== 20) return;
        const [name, txn, obj, streamName] = amfDecode(payload);
        record.commands.push(String(name));
        if (name === 'connect') {
          record.connect = obj as Record<string, unknown>;
          if (this.options.windowAckSize) control(5, be32(this.options.windowAckSize));
          if (this.options.chunkSize && this.options.chunkSize !== 128) {
            control(1, be32(this.options.chunkSize));
            writer.chunkSize = this.options.chunkSize;
          }
          command(0, [
            '_result',
            txn!,
            { fmsVer: 'FMS/3,5,7,7009', capabilities: 31 },
            { level: 'status', code: 'NetConnection.Connect.Success', objectEncoding: 0 },
          ]);
        } else if (name === 'createStream') {
          command(0, ['_result', txn!, null, 1]);
        } else if (name === 'play') {
          record.play = streamName as string;
          this.answerPlay(socket, {
            send,
            control,
            command,
            writer,
            timers,
            stall: () => (stalled = true),
          });
        }
      });
    });
  }

  private answerPlay(
    socket: Socket,
    io: {
      send: (b: Buffer) => void;
      control: (type: number, payload: Buffer) => void;
      command: (streamId: number, values: Amf[]) => void;
      writer: ChunkWriter;
      timers: NodeJS.Timeout[];
      stall: () => void;
    },
  ): void {
    const { answer = 'play', aggregate = 1, pingIntervalMs, rechunk, stallAfterMs } = this.options;
    if (answer === 'error') {
      io.command(1, ['onStatus', 0, null, { level: 'error', code: 'NetStream.Play.StreamNotFound' }]);
      return;
    }
    io.control(4, Buffer.from([0, 0, 0, 0, 0, 1])); // Stream Begin 1
    io.command(1, ['onStatus', 0, null, { level: 'status', code: 'NetStream.Play.Start' }]);
    if (answer === 'close') {
      socket.end();
      return;
    }
    const began = Date.now();
    if (pingIntervalMs) {
      const ping = (): void => {
        const b = Buffer.alloc(6);
        b.writeUInt16BE(6);
        b.writeUInt32BE((Date.now() - began) >>> 0, 2);
        io.control(4, b);
        io.timers.push(setTimeout(ping, pingIntervalMs));
      };
      io.timers.push(setTimeout(ping, pingIntervalMs));
    }
    if (rechunk) {
      io.timers.push(
        setTimeout(() => {
          const b = Buffer.alloc(4);
          b.writeUInt32BE(rechunk.chunkSize);
          io.control(1, b);
          io.writer.chunkSize = rechunk.chunkSize;
        }, rechunk.afterMs),
      );
    }
    if (stallAfterMs !== undefined) io.timers.push(setTimeout(io.stall, stallAfterMs));
    // The file's tags, looped with their clock carried on, sent as their timestamps come due.
    const span = this.tags.at(-1)!.timestamp + 40;
    let i = 0;
    let loop = 0;
    const next = (): void => {
      if (socket.destroyed) return;
      const batch: FlvTag[] = [];
      while (batch.length < aggregate) {
        const t = this.tags[i]!;
        const timestamp = t.timestamp + loop * span;
        // After the first pass, only media: the metadata and sequence headers came once.
        if (loop === 0 || (t.type !== 18 && !(t.data[1] === 0 && (t.type === 8 || t.type === 9)))) {
          batch.push({ ...t, timestamp });
        }
        i++;
        if (i === this.tags.length) {
          i = 0;
          loop++;
        }
        if (t.type === 18 || aggregate === 1) break;
      }
      for (const t of batch.length > 1 ? [aggregateOf(batch)] : batch) {
        const csid = t.type === 8 ? 4 : t.type === 9 ? 6 : 5;
        io.send(io.writer.message(csid, t.type, t.timestamp, 1, t.data));
      }
      const due = began + (this.tags[i]!.timestamp + loop * span);
      io.timers.push(setTimeout(next, Math.max(0, due - Date.now())));
    };
    next();
  }
}

/** Media tags as one aggregate message: FLV tags (header, data, back pointer) back to back. */
function aggregateOf(tags: FlvTag[]): FlvTag {
  const parts = tags.map((t) => {
    const b = Buffer.alloc(11 + t.data.length + 4);
    b[0] = t.type;
    b.writeUIntBE(t.data.length, 1, 3);
    b.writeUIntBE(t.timestamp & 0xffffff, 4, 3);
    b[7] = (t.timestamp >>> 24) & 0xff;
    t.data.copy(b, 11);
    b.writeUInt32BE(11 + t.data.length, 11 + t.data.length);
    return b;
  });
  return { type: 22, timestamp: tags[0]!.timestamp, data: Buffer.concat(parts) };
}
