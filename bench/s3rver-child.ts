/**
 * s3rver in a process of its own (`node bench/dist/s3rver-child.js <dir>`), so that its CPU is measured
 * apart from the process that uploads to it. Prints `{"port":N}` once it listens; exits when its
 * parent closes its stdin (even a parent that was killed).
 */
// @ts-expect-error s3rver ships no type declarations
import S3rver from 's3rver';

const directory = process.argv[2];
if (!directory) throw new Error('usage: s3rver-child.js <directory>');
const server = new S3rver({ address: '127.0.0.1', port: 0, directory, silent: true });
const { port } = (await server.run()) as { port: number };
// Node's default keep-alive timeout (5 s) is shorter than the 6 s between one recording's segments:
// the client would often reuse a connection the server is closing (ECONNRESET, a retried upload).
// Object stores keep idle connections far longer; so does this one.
(server as { httpServer: { keepAliveTimeout: number; headersTimeout: number } }).httpServer.keepAliveTimeout =
  60_000;
(server as { httpServer: { keepAliveTimeout: number; headersTimeout: number } }).httpServer.headersTimeout =
  65_000;
process.stdout.write(`${JSON.stringify({ port })}\n`);
process.stdin.on('end', () => process.exit(0));
process.stdin.on('close', () => process.exit(0));
process.stdin.resume();
process.on('SIGTERM', () => process.exit(0));
