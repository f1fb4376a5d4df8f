import {
  ERROR_CATEGORIES,
  ERROR_CODES,
  type ErrorCategory,
  type RecfleetErrorCode,
} from './error-registry.js';

/**
 * docs/error-codes.md, rendered from the registry: the category table (HTTP status, exit code, retry)
 * and every code with its category. The committed file is checked against this by a test, so the
 * document can never disagree with the code.
 */
export function renderErrorCodesDoc(): string {
  const categories = Object.entries(ERROR_CATEGORIES) as [
    ErrorCategory,
    (typeof ERROR_CATEGORIES)[ErrorCategory],
  ][];
  const codes = Object.entries(ERROR_CODES) as [RecfleetErrorCode, (typeof ERROR_CODES)[RecfleetErrorCode]][];
  const lines = [
    '# Error codes',
    '',
    '<!-- Generated from packages/contract/src/error-registry.ts by `npm run -w @recfleet/contract docs`; a test keeps it current. -->',
    '',
    'Every code that crosses a boundary (recorder → worker → job → record → API → CLI → webhook) is one of',
    "these. A code's category alone decides the HTTP status of a request that fails with it, the exit code",
    "of `recfleet`, and whether the operation is worth another attempt. A failed job's `failedReason` is",
    '`[CODE] message`.',
    '',
    '| category | HTTP status | exit code | retried | meaning |',
    '| --- | --- | --- | --- | --- |',
    ...categories.map(
      ([name, c]) =>
        `| \`${name}\` | ${c.httpStatus} | ${c.exitCode} | ${c.retry ? 'yes' : 'no'} | ${c.description} |`,
    ),
    '',
    '| code | category | meaning |',
    '| --- | --- | --- |',
    ...codes.map(
      ([code, c]) =>
        `| \`${code}\` | \`${c.category}\` | ${c.description}${'fatal' in c && c.fatal === false ? ' (reported; the recording goes on)' : ''} |`,
    ),
    '',
  ];
  return lines.join('\n');
}
