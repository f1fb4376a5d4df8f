/**
 * Every file in infra/ is linted or verified here: shell scripts by shellcheck, systemd units by
 * systemd-analyze, YAML by yamllint plus structural checks of what the fleet relies on (hand-off grace
 * periods, probes, KEDA's scaling signal), Dockerfiles against the package lists the install script uses.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = new URL('../../', import.meta.url).pathname;
const infra = join(root, 'infra');
let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'recfleet-infra-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

function run(
  cmd: string,
  args: string[],
  cwd = root,
): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8' });
  return {
    status: r.status,
    stdout: r.stdout ?? '',
    stderr: (r.stderr ?? '') + (r.error ? String(r.error) : ''),
  };
}

// Parsed YAML is untyped data; the checks below walk it as such.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Yaml = Record<string, any>;

function yamlDocs(path: string): Yaml[] {
  const r = run('python3', [
    '-c',
    'import sys, json, yaml; print(json.dumps(list(yaml.safe_load_all(open(sys.argv[1])))))',
    path,
  ]);
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Yaml[];
}

/** Where the schema of each apiVersion lives (kubernetes-models for the core API, KEDA's own models). */
const schemaModules: Record<string, string> = {
  v1: 'kubernetes-models/v1',
  'apps/v1': 'kubernetes-models/apps/v1',
  'policy/v1': 'kubernetes-models/policy/v1',
  'keda.sh/v1alpha1': '@kubernetes-models/keda/keda.sh/v1alpha1',
};

/** Validates one manifest against its OpenAPI schema; the problem as text, or undefined when valid. */
async function schemaProblem(doc: Yaml): Promise<string | undefined> {
  const path = schemaModules[doc.apiVersion];
  const models = path ? ((await import(path)) as Record<string, unknown>) : {};
  const Model = models[doc.kind] as (new (data: Yaml) => { validate(): void }) | undefined;
  if (!Model) return `no schema for ${doc.apiVersion} ${doc.kind}`;
  try {
    new Model(doc).validate();
    return undefined;
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
}

const list = async (file: string): Promise<string[]> =>
  (await readFile(join(infra, file), 'utf8'))
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));

describe('infra files', () => {
  it('shell scripts pass shellcheck', () => {
    const r = run('shellcheck', [
      'infra/install/install-worker.sh',
      'infra/scripts/setup-dev.sh',
      'run',
      '.ci/run',
    ]);
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('systemd units verify without a warning', async () => {
    for (const unit of ['recfleet-worker.service', 'recfleet-api.service']) {
      const text = (await readFile(join(infra, 'systemd', unit), 'utf8')).replace(
        /ExecStart=.*/,
        `ExecStart=${process.execPath} --version`,
      );
      const path = join(tmp, unit);
      await writeFile(path, text);
      const r = run('systemd-analyze', ['verify', path]);
      expect(
        r.stderr.replace(/.*(Cannot add dependency job|Failed to open|No such file).*\n?/g, ''),
        unit,
      ).toBe('');
      expect(r.status).toBe(0);
      expect(text).toMatch(/^NoNewPrivileges=yes$/m);
      expect(text).toMatch(/^ProtectSystem=strict$/m);
      expect(text).toMatch(/^User=recfleet$/m);
      expect(text).toMatch(/^EnvironmentFile=-\/etc\/recfleet\/recfleet.env$/m);
    }
    // The worker's stop timeout leaves room for the hand-off grace time (30 s) and the last uploads.
    const worker = await readFile(join(infra, 'systemd', 'recfleet-worker.service'), 'utf8');
    expect(Number(/^TimeoutStopSec=(\d+)/m.exec(worker)?.[1])).toBeGreaterThanOrEqual(60);
  });

  it('YAML passes yamllint', () => {
    const r = run('yamllint', ['-c', 'infra/.yamllint.yaml', 'infra/k8s', 'infra/docker/compose.yaml']);
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('Kubernetes manifests keep recordings safe while scaling', async () => {
    const docs = yamlDocs(join(infra, 'k8s', 'worker.yaml'));
    const byKind = (kind: string) => docs.filter((d) => d.kind === kind);
    const deploy = byKind('Deployment')[0]!;
    const pod = deploy.spec.template.spec;
    const config = JSON.parse(byKind('ConfigMap')[0]!.data['worker.json']);
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(config.shutdownGraceSeconds + 30);
    const c = pod.containers[0];
    expect(c.readinessProbe.httpGet.path).toBe('/readyz');
    expect(c.livenessProbe.httpGet.path).toBe('/healthz');
    expect(c.lifecycle.preStop).toBeDefined();
    expect(config.httpPort).toBe(c.ports[0].containerPort);
    expect(byKind('PodDisruptionBudget')).toHaveLength(1);
    expect(c.envFrom[0].secretRef.name).toBe(byKind('Secret')[0]!.metadata.name);
    const scaled = byKind('ScaledObject')[0]!;
    const query: string = scaled.spec.triggers[0].metadata.query;
    expect(query).toContain('recfleet_queue_depth');
    expect(query).toContain('recfleet_active_recordings');
    expect(
      scaled.spec.advanced.horizontalPodAutoscalerConfig.behavior.scaleDown.stabilizationWindowSeconds,
    ).toBeGreaterThanOrEqual(300);
    const api = yamlDocs(join(infra, 'k8s', 'producer.yaml'));
    expect(api.map((d) => d.kind).sort()).toEqual(['Deployment', 'PodDisruptionBudget', 'Secret', 'Service']);
    // A Redis outage takes API pods out of the Service (readiness) but restarts none (liveness: /livez
    // never asks Redis; apps/api/src/http/server.test.ts "Redis unavailable").
    const apiContainer = api.find((d) => d.kind === 'Deployment')!.spec.template.spec.containers[0];
    expect(apiContainer.readinessProbe.httpGet.path).toBe('/healthz');
    expect(apiContainer.livenessProbe.httpGet.path).toBe('/livez');
    expect(apiContainer.env).toContainEqual({ name: 'RECFLEET_API_HOST', value: '0.0.0.0' });
    // Images pinned by version, the packages' version for recfleet's own.
    const version = JSON.parse(await readFile(join(root, 'apps/worker/package.json'), 'utf8')).version;
    for (const image of [c.image, apiContainer.image])
      expect(image).toMatch(new RegExp(`^recfleet/[a-z]+:${version}$`));
  });

  it('Kubernetes manifests validate against the API schemas (Kubernetes and KEDA)', async () => {
    const docs = ['worker.yaml', 'producer.yaml'].flatMap((f) => yamlDocs(join(infra, 'k8s', f)));
    expect(docs.length).toBeGreaterThanOrEqual(9);
    for (const doc of docs) {
      const problem = await schemaProblem(doc);
      expect(problem, `${doc.kind} ${doc.metadata?.name}`).toBeUndefined();
    }
    // The validator itself must be able to refuse: a probe port of the wrong type is an error.
    const deploy = docs.find((d) => d.kind === 'Deployment')!;
    const broken = structuredClone(deploy);
    broken.spec.template.spec.containers[0].readinessProbe.httpGet.port = { not: 'a port' };
    expect(await schemaProblem(broken)).toMatch(/port/);
    expect(await schemaProblem({ ...deploy, kind: 'Deploymint' })).toMatch(/no schema/);
  });

  it('Dockerfiles install exactly the packages the install script does', async () => {
    const runtime = await list('packages.debian.txt');
    const build = await list('packages.debian-build.txt');
    for (const file of ['Dockerfile.worker', 'Dockerfile.producer']) {
      const text = await readFile(join(infra, 'docker', file), 'utf8');
      const stages = text.split(/^FROM /m).slice(1);
      expect(stages.length, `${file} is multi-stage`).toBe(2);
      const installs = (stage: string) =>
        (/apt-get install -y --no-install-recommends ([^\\\n]+)/.exec(stage)?.[1] ?? '').trim().split(/\s+/);
      expect(installs(stages[0]!).sort(), `${file} build stage`).toEqual([...build].sort());
      const final = installs(stages[1]!);
      // The final image carries no compiler and no -dev package.
      expect(final.filter((p) => p.endsWith('-dev') || p === 'g++')).toEqual([]);
      if (file === 'Dockerfile.worker') expect(final.sort()).toEqual([...runtime].sort());
    }
    // The rest of compose.yaml: test/infra/compose.test.ts.
    const compose = yamlDocs(join(infra, 'docker', 'compose.yaml'))[0]!;
    expect(compose.services.redis.command).toContain('noeviction');
    const composeConfig = JSON.parse(await readFile(join(infra, 'docker', 'worker.compose.json'), 'utf8'));
    expect(composeConfig.storageProfiles.s3.checksumMode).toBe('WHEN_REQUIRED');
  });

  it('every infra file is covered by a check', async () => {
    const files: string[] = [];
    const walk = async (dir: string): Promise<void> => {
      for (const e of await readdir(dir, { withFileTypes: true })) {
        const p = join(dir, e.name);
        if (e.isDirectory()) await walk(p);
        else files.push(p.slice(infra.length + 1));
      }
    };
    await walk(infra);
    const covered = [
      /^README\.md$/,
      /^\.yamllint\.yaml$/,
      /^packages\.(debian|debian-build|rpm)\.txt$/,
      /^install\/install-worker\.sh$/,
      /^scripts\/setup-dev\.sh$/,
      /^systemd\/recfleet-(worker|api)\.service$/,
      /^k8s\/(worker|producer)\.yaml$/,
      /^docker\/(Dockerfile\.(worker|producer)|compose\.yaml|worker\.compose\.json|create-bucket\.mjs)$/,
      /^config\/(worker\.example\.json|recfleet\.example\.env)$/,
      // The reference configs: apps/api/src/config.test.ts (api, webhooks), apps/worker/src/config.test.ts.
      /^config\/(api|webhooks|worker)\.yaml$/,
      /^redis\//,
    ];
    expect(files.filter((f) => !covered.some((re) => re.test(f)))).toEqual([]);
  });
});
