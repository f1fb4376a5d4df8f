import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { Validator } from '@seriousme/openapi-schema-validator';
import { format, resolveConfig } from 'prettier';
import { describe, expect, it } from 'vitest';
import { openApiDocument } from './openapi-document.js';

const committed = fileURLToPath(new URL('../../../../docs/openapi.json', import.meta.url));

describe('docs/openapi.json', () => {
  it('is the document the routes generate (npm run -w @recfleet/api openapi)', async () => {
    const options = (await resolveConfig(committed)) ?? {};
    const generated = await format(JSON.stringify(await openApiDocument(), null, 2), {
      ...options,
      parser: 'json',
    });
    expect(await readFile(committed, 'utf8')).toBe(generated);
  });

  it('is a valid OpenAPI 3.1 document', async () => {
    const validator = new Validator();
    const document = JSON.parse(await readFile(committed, 'utf8')) as Parameters<Validator['validate']>[0];
    const result = await validator.validate(document);
    expect(result.errors).toBeUndefined();
    expect(result.valid).toBe(true);
    expect(validator.version).toBe('3.1');
  });

  it('documents every route with an operation id, and every problem with the Problem schema', async () => {
    const doc = JSON.parse(await readFile(committed, 'utf8')) as {
      paths: Record<string, Record<string, { operationId?: string; responses: Record<string, unknown> }>>;
    };
    const operations = Object.values(doc.paths).flatMap((p) => Object.values(p));
    expect(operations.length).toBeGreaterThanOrEqual(9);
    for (const op of operations) {
      expect(op.operationId).toMatch(/^[a-z][A-Za-z]+$/);
      for (const [status, response] of Object.entries(op.responses)) {
        // /healthz answers its own body in every case (probes read `redis`).
        if (Number(status) >= 400 && op.operationId !== 'health') {
          expect(JSON.stringify(response), `${op.operationId} ${status}`).toContain(
            '"application/problem+json":{"schema":{"$ref":"#/components/schemas/Problem"}}',
          );
        }
      }
    }
  });
});
