import { ReplyError } from 'ioredis';
import { RecfleetError } from './error-registry.js';

/**
 * Redis could not be reached, lost the connection, or did not answer within the caller's bound. Every
 * producer-side Redis failure that is not Redis's own answer (a ReplyError: WRONGTYPE, NOSCRIPT, OOM…)
 * becomes this, so callers decide on its type — the API answers 503, the CLI exits 5 — never on the
 * text of an ioredis message.
 */
export class RedisUnavailableError extends RecfleetError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('REDIS_UNAVAILABLE', message, options);
    this.name = 'RedisUnavailableError';
  }
}

/** Whether `err` is an answer Redis gave (a command error), as opposed to a connection failure. */
export function isRedisReply(err: unknown): boolean {
  return err instanceof (ReplyError as new (...args: never[]) => Error);
}

/**
 * Runs one Redis operation within `timeoutMs`. A connection failure or a missed bound becomes
 * RedisUnavailableError (naming `where`, never a password); Redis's own error answers and errors of the
 * caller's code pass through unchanged. The operation itself is not cancelled by the bound (ioredis has
 * no cancellation): a hung Redis answers late or never, and the caller has moved on.
 */
export async function boundedRedisCall<T>(
  op: () => Promise<T>,
  options: { timeoutMs: number; where: string },
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new RedisUnavailableError(
            `Redis at ${options.where} did not answer within ${options.timeoutMs} ms`,
          ),
        ),
      options.timeoutMs,
    );
  });
  try {
    return await Promise.race([op(), timeout]);
  } catch (err) {
    if (err instanceof RecfleetError || isRedisReply(err) || !isIoredisFailure(err)) throw err;
    const reason = err instanceof Error && err.message ? `: ${err.message.split('\n')[0]}` : '';
    throw new RedisUnavailableError(`Redis at ${options.where} is not reachable${reason}`, { cause: err });
  } finally {
    clearTimeout(timer);
  }
}

/**
 * ioredis rejects a command it could not send or whose connection went away with a plain Error (or its
 * MaxRetriesPerRequestError, or a socket's errno error): anything that is an Error but not a ReplyError
 * and not one of ours. The caller's own bugs (TypeError, RangeError) are not connection failures.
 */
function isIoredisFailure(err: unknown): boolean {
  return err instanceof Error && !(err instanceof TypeError) && !(err instanceof RangeError);
}
