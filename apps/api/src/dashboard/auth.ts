import type { FastifyReply, FastifyRequest } from 'fastify';
import { ApiKeys, bearerToken } from '../http/auth.js';
import { problemFor, sendProblem } from '../http/problem.js';

/** Decides whether a presented API key is valid (e.g. the producer API's own key store). */
export type ApiKeyVerifier = (key: string) => boolean | Promise<boolean>;

export interface DashboardAuthOptions {
  /** Valid API keys, compared in constant time. */
  apiKeys?: readonly string[];
  /** Or a verifier (tried after `apiKeys`). */
  verifyApiKey?: ApiKeyVerifier;
  /** Realm shown by the browser's login dialog. */
  realm?: string;
}

/**
 * The key a request presents: `Authorization: Bearer <key>`, or HTTP Basic with the key as the password
 * (any user name) — or as the user name with an empty password, as curl's `-u <key>:` sends it.
 */
export function presentedKey(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const bearer = bearerToken(header);
  if (bearer !== undefined) return bearer;
  const basic = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (!basic) return undefined;
  const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  const user = decoded.slice(0, colon);
  const password = decoded.slice(colon + 1);
  return password !== '' ? password : user !== '' ? user : undefined;
}

/** An onRequest hook: 401 with a Basic challenge (so a browser shows its login) unless a valid key is presented. */
export function dashboardAuthHook(
  options: DashboardAuthOptions,
): (request: FastifyRequest, reply: FastifyReply) => Promise<void> {
  const keys = new ApiKeys(options.apiKeys ?? []);
  const verify = options.verifyApiKey;
  if (keys.size === 0 && !verify) {
    throw new Error(
      'registerDashboards: set apiKeys or verifyApiKey (the dashboards are never served without authentication)',
    );
  }
  const realm = (options.realm ?? 'recfleet').replace(/["\\]/g, '');
  const isValid = async (key: string): Promise<boolean> =>
    keys.accepts(key) || (verify ? verify(key) : false);
  return async (request, reply) => {
    const key = presentedKey(request.headers.authorization);
    if (key !== undefined && (await isValid(key))) return;
    reply
      .header('www-authenticate', [`Basic realm="${realm}", charset="UTF-8"`, `Bearer realm="${realm}"`])
      .header('cache-control', 'no-store');
    await sendProblem(
      reply,
      problemFor('UNAUTHORIZED', 'an API key is required (HTTP Basic password or Bearer token)'),
    );
  };
}
