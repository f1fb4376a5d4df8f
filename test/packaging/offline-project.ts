/**
 * An application project outside the checkout that installs recfleet's packed tarballs the way a user's
 * project installs them from a registry — without a registry: no network here, and npm's cache holds
 * the third-party tarballs but not always the metadata a fresh resolution asks for. So the project gets a
 * lockfile, derived from the checkout's: every third-party package at the version the checkout locked
 * (resolved URL and integrity, fetched from the cache), every recfleet package from its tarball, nothing
 * that the installed packages do not reach. `npm ci --offline` then installs exactly that tree.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

interface LockEntry {
  name?: string;
  version?: string;
  resolved?: string;
  integrity?: string;
  dev?: boolean;
  devOptional?: boolean;
  private?: boolean;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  [field: string]: unknown;
}

export interface PackedPackage {
  name: string;
  /** The workspace directory it was packed from, relative to the checkout. */
  dir: string;
  /** The tarball's file name (in the project's `tarballs/` directory). */
  tarball: string;
  /** Every path in the tarball, without npm's `package/` prefix. */
  files: string[];
}

const root = new URL('../../', import.meta.url).pathname;

/** The checkout's workspaces that are published (not `private`), with their directories. */
export function publishedWorkspaces(): { name: string; dir: string }[] {
  const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { workspaces: string[] };
  return manifest.workspaces
    .map((dir) => ({
      dir,
      pkg: JSON.parse(readFileSync(join(root, dir, 'package.json'), 'utf8')) as LockEntry,
    }))
    .filter(({ pkg }) => !pkg.private)
    .map(({ dir, pkg }) => ({ name: pkg.name!, dir }));
}

/** `npm pack` of every published workspace into `dest` (built `dist/` as it is in the checkout). */
export function packWorkspaces(dest: string): PackedPackage[] {
  const workspaces = publishedWorkspaces();
  const r = spawnSync(
    'npm',
    [
      'pack',
      '--json',
      '--ignore-scripts',
      '--pack-destination',
      dest,
      ...workspaces.flatMap((w) => ['--workspace', w.dir]),
    ],
    { cwd: root, encoding: 'utf8', timeout: 60_000 },
  );
  if (r.status !== 0) throw new Error(`npm pack failed: ${r.stderr}`);
  const packed = JSON.parse(r.stdout) as { name: string; filename: string; files: { path: string }[] }[];
  return packed.map((p) => ({
    name: p.name,
    dir: workspaces.find((w) => w.name === p.name)!.dir,
    tarball: p.filename.replace(/^@/, '').replace('/', '-'),
    files: p.files.map((f) => f.path),
  }));
}

/** Where node would resolve `dep` from the package at `from` (the nearest `node_modules` up the path). */
function resolveIn(entries: Record<string, LockEntry>, from: string, dep: string): string | undefined {
  let base = from;
  for (;;) {
    const path = `${base ? `${base}/` : ''}node_modules/${dep}`;
    if (entries[path]) return path;
    if (!base) return undefined;
    const up = base.lastIndexOf('/node_modules/');
    base = up < 0 ? '' : base.slice(0, up);
  }
}

/**
 * Writes `package.json` and `package-lock.json` into `project` for an application depending on
 * `dependencies` (names of packed packages, whose tarballs are in `project/tarballs/`).
 * Returns the lockfile's package paths.
 */
export function writeOfflineProject(
  project: string,
  packed: readonly PackedPackage[],
  dependencies: readonly string[],
): string[] {
  const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, LockEntry>;
  };
  const byDir = new Map(packed.map((p) => [p.dir, p]));
  const entries: Record<string, LockEntry> = {};
  for (const [path, entry] of Object.entries(lock.packages)) {
    if (path === '' || path.startsWith('node_modules/@recfleet/')) continue; // the root, workspace links
    const dir = [...byDir.keys()].find((d) => path === d || path.startsWith(`${d}/`));
    const inWorkspace = !path.startsWith('node_modules/');
    if (inWorkspace && !dir) continue; // an unpublished workspace (the tests) and what only it uses
    if (!dir) {
      entries[path] = entry;
      continue;
    }
    const pkg = byDir.get(dir)!;
    const installed = `node_modules/${pkg.name}${path.slice(dir.length)}`;
    if (path !== dir) {
      entries[installed] = entry; // a dependency nested under the workspace: nested under the package
      continue;
    }
    const bytes = readFileSync(join(project, 'tarballs', pkg.tarball));
    const { devDependencies: _dev, ...published } = entry;
    entries[installed] = {
      ...published,
      resolved: `file:tarballs/${pkg.tarball}`,
      integrity: `sha512-${createHash('sha512').update(bytes).digest('base64')}`,
    };
  }
  const reached = new Set<string>();
  const queue = dependencies.map((name) => `node_modules/${name}`);
  while (queue.length > 0) {
    const path = queue.pop()!;
    if (reached.has(path)) continue;
    reached.add(path);
    const e = entries[path];
    if (!e) throw new Error(`${path} is not in the checkout's lockfile`);
    const wanted = { ...e.dependencies, ...e.optionalDependencies, ...e.peerDependencies };
    for (const dep of Object.keys(wanted)) {
      const found = resolveIn(entries, path, dep);
      if (found) queue.push(found); // an optional peer nobody installed is absent, as in the checkout
    }
  }
  const engine = packed.find((p) => p.name === '@recfleet/engine-binding')!;
  const tarballOf = (name: string) => `file:tarballs/${packed.find((p) => p.name === name)!.tarball}`;
  const rootEntry = {
    name: 'recfleet-user-app',
    version: '1.0.0',
    dependencies: Object.fromEntries(dependencies.map((n) => [n, tarballOf(n)])),
  };
  const packages: Record<string, LockEntry> = { '': rootEntry };
  for (const path of [...reached].sort()) {
    const { dev: _d, devOptional: _o, ...entry } = entries[path]!;
    packages[path] = entry;
  }
  writeFileSync(
    join(project, 'package-lock.json'),
    JSON.stringify({ ...rootEntry, lockfileVersion: 3, requires: true, packages }, null, 2),
  );
  writeFileSync(
    join(project, 'package.json'),
    JSON.stringify(
      {
        ...rootEntry,
        private: true,
        type: 'module',
        // The worker's native recorder builds in its install script (README "Install"); a tarball's
        // approval is keyed by its file spec, a registry package's by its name. msgpackr-extract is
        // BullMQ's optional native speed-up, refused as the checkout refuses it.
        allowScripts: {
          '@recfleet/engine-binding': true,
          [`file:${join(project, 'tarballs', engine.tarball)}`]: true,
          'msgpackr-extract': false,
        },
      },
      null,
      2,
    ),
  );
  return [...reached];
}
