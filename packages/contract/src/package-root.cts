// CommonJS on purpose: the ESM build runs from dist/ and the CommonJS build from dist/cjs/, and only
// CommonJS knows its own directory in both (`__dirname`; CommonJS has no `import.meta`).
/* eslint-disable @typescript-eslint/no-require-imports -- CommonJS imports, in the one CommonJS file */
import fs = require('node:fs');
import path = require('node:path');

/** The directory of @recfleet/contract (where lua/ and schema/ are), whichever build is running. */
function contractRoot(): string {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const manifest = path.join(dir, 'package.json');
    if (fs.existsSync(manifest)) {
      const { name } = JSON.parse(fs.readFileSync(manifest, 'utf8')) as { name?: string };
      if (name === '@recfleet/contract') return dir;
    }
    if (path.dirname(dir) === dir) throw new Error(`@recfleet/contract: no package.json above ${__dirname}`);
  }
}

export = { contractRoot };
