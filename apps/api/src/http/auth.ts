import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * API keys compared in constant time: every configured key is compared (as SHA-256 digests, so the
 * lengths are equal) whatever the outcome, and the comparison does not stop at the first match.
 */
export class ApiKeys {
  private readonly digests: Buffer[];

  constructor(keys: readonly string[]) {
    this.digests = keys.map(digest);
  }

  /** The token of an `Authorization: Bearer <token>` header, or undefined when it is malformed. */
  static bearerToken(header: string | undefined): string | undefined {
    const m = /^Bearer ([\x21-\x7e]{1,512})$/.exec(header ?? '');
    return m?.[1];
  }

  accepts(token: string | undefined): boolean {
    if (token === undefined) return false;
    const given = digest(token);
    let ok = 0;
    for (const d of this.digests) ok |= timingSafeEqual(d, given) ? 1 : 0;
    return ok === 1;
  }
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}
