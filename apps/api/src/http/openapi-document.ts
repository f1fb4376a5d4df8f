import { RecordingClient } from '@recfleet/client';
import { buildApiServer } from './server.js';

/**
 * The API's OpenAPI document, as `/openapi.json` serves it: generated from a server whose routes are only
 * described, never called (its client is pointed nowhere and closed again).
 */
export async function openApiDocument(): Promise<Record<string, unknown>> {
  const client = new RecordingClient({ redisUrl: 'redis://127.0.0.1:1', redisTimeoutMs: 100 });
  const app = buildApiServer({ client, apiKeys: ['document-only-0000000000'] });
  try {
    await app.ready();
    return app.swagger() as unknown as Record<string, unknown>;
  } finally {
    await app.close();
    await client.close();
  }
}
