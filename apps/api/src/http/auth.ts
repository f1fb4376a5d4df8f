import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * The token of an `Authorization: Bearer <token>` header, or undefined when it is malformed. The scheme
 * is case-insensitive and may be followed by several spaces (RFC 9110 §11.1, §11.4): `bearer <key>` is
 * as good as `Bearer <key>`, here and on the dashboards.
 */
export function bearerToken(header: string | undefined): string | undefined {
  return /^Bearer +([\x21-\x7e]{1,512})$/i.exec(header ?? '')?.[1];
}

/**
 * API keys compared in constant time: every configured key is compared (as SHA-256 digests, so the
 * lengths are equal) whatever the outcome, and the comparison does not stop at the first match.
 */
export class ApiKeys {
  private readonly digests: Buffer[];

  constructor(keys: readonly string[]) {
    this.digests = keys.filter((k) => k.length > 0).map(digest);
  }

  get size(): number {
    return this.digests.length;
  }

  accepts(token: string | undefined): boolean {
    if (token === undefined) return false;
    const given = digest(token);
    let ok = false;
    for (const d of this.digests) ok = timingSafeEqual(d, given) || ok;
    return ok;
  }
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}
