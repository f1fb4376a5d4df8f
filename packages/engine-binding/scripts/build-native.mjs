#!/usr/bin/env node
// Builds the recorder addon with node-gyp against the system FFmpeg: `npm run build:native` in a
// checkout, and the package's `install` script when an application installs @recfleet/engine-binding
// (npm 11 runs a dependency's install script only when the installing project allows it: README
// "Install" says how).
// Why a script and not a bare `node-gyp rebuild`: node-gyp downloads Node's headers by default, which
// fails offline and on locked-down build hosts. The running Node almost always ships its headers
// (`<prefix>/include/node`), so we point node-gyp there and only fall back to the download otherwise.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const pkgDir = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);

function fail(message) {
  process.stderr.write(`\n@recfleet/engine-binding: ${message}\n\n`);
  process.exit(1);
}

const pc = spawnSync('pkg-config', ['--exists', '--print-errors', 'libavformat', 'libavcodec', 'libavutil'], {
  encoding: 'utf8',
});
if (pc.error || pc.status !== 0) {
  fail(
    'cannot build the native recorder: the FFmpeg development packages were not found by pkg-config.\n' +
      (pc.error ? `  pkg-config could not run: ${pc.error.message}\n` : `  ${pc.stderr.trim()}\n`) +
      'Install them, then install again (or `npm rebuild @recfleet/engine-binding`):\n' +
      '  Debian/Ubuntu:  apt-get install libavformat-dev libavcodec-dev libavutil-dev pkg-config g++ make python3\n' +
      '                  (and ffmpeg for the worker hosts)\n' +
      '  RHEL/Rocky/Alma/CentOS Stream: enable EPEL, CRB (EL8: powertools) and RPM Fusion free, then\n' +
      '                  dnf install ffmpeg ffmpeg-devel pkgconf-pkg-config gcc-c++ make python3\n' +
      '  In a recfleet checkout, `./run setup` installs them.',
  );
}

function nodeDir() {
  const candidates = [process.env.npm_config_nodedir, dirname(dirname(process.execPath)), '/usr'];
  for (const dir of candidates) {
    if (dir && existsSync(join(dir, 'include', 'node', 'node_api.h'))) return dir;
  }
  return undefined;
}

// node-gyp is a build tool, not something the recorder needs at run time: it is a devDependency, and
// without dev dependencies installed (`npm ci --omit=dev`) the copy that ships with npm is used, which
// npm names in npm_config_node_gyp when it runs this script.
function nodeGyp() {
  const candidates = [];
  try {
    candidates.push(require.resolve('node-gyp/bin/node-gyp.js'));
  } catch {
    // not installed as a dev dependency
  }
  if (process.env.npm_config_node_gyp) candidates.push(process.env.npm_config_node_gyp);
  return candidates.find((path) => existsSync(path));
}

const gyp = nodeGyp();
if (!gyp) {
  fail(
    'node-gyp was not found: neither as a dev dependency nor the one npm ships.\n' +
      '  Build through npm (`npm rebuild @recfleet/engine-binding`, or `npm run build:native` in a checkout).',
  );
}
const dir = nodeDir();
const args = [gyp, 'rebuild', '--jobs', 'max', ...(dir ? [`--nodedir=${dir}`] : [])];
const r = spawnSync(process.execPath, args, { cwd: pkgDir, stdio: 'inherit' });
if (r.status !== 0) fail(`node-gyp failed (exit ${r.status}); the compiler output is above.`);
