import fs from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { loadConfig } from '../../src/config/env.js';
import { registry } from '../../src/shared/metrics.js';

/** Issue #16: the deployment files in deploy/ parse, say what the issue asks, and query only metrics we export. */

const DEPLOY = path.resolve('deploy');
type Doc = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- parsed YAML, checked field by field

function files(dir: string, pattern: RegExp): string[] {
  return fs
    .readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((file) => pattern.test(file))
    .map((file) => path.join(dir, file));
}

function documents(file: string): Doc[] {
  const parsed = parseAllDocuments(fs.readFileSync(file, 'utf8'));
  const list = Array.isArray(parsed) ? parsed : [parsed];
  for (const doc of list) expect(doc.errors.map((error) => `${file}: ${error.message}`)).toEqual([]);
  return list.map((doc) => doc.toJS() as Doc).filter((doc) => doc !== null);
}

const manifests = files(path.join(DEPLOY, 'kubernetes'), /\.ya?ml$/).flatMap((file) => documents(file).map((doc) => ({ file, doc })));
const ofKind = (kind: string): Doc[] => manifests.filter((entry) => entry.doc.kind === kind).map((entry) => entry.doc);
const one = (kind: string): Doc => {
  const found = ofKind(kind);
  expect(found).toHaveLength(1);
  return found[0]!;
};
const matches = (selector: Record<string, string>, labels: Record<string, string>) => Object.entries(selector).every(([key, value]) => labels[key] === value);

describe('deploy/: every YAML file parses', () => {
  it.each(files(DEPLOY, /\.ya?ml$/).map((file) => [path.relative(DEPLOY, file)]))('when %s is parsed, then it has no errors', (file) => {
    expect(documents(path.join(DEPLOY, file)).length).toBeGreaterThan(0);
  });
});

describe('deploy/kubernetes', () => {
  const deployment = one('Deployment');
  const pod = deployment.spec.template.spec;
  const container = pod.containers.find((entry: Doc) => entry.name === 'provider');
  const podLabels = deployment.spec.template.metadata.labels as Record<string, string>;
  const configMap = one('ConfigMap');
  const envOf = (name: string) => (container.env as Doc[]).find((entry) => entry.name === name)?.value as string | undefined;
  const mountAt = (mountPath: string) => (container.volumeMounts as Doc[]).find((mount) => mount.mountPath === mountPath);
  const volume = (name: string) => (pod.volumes as Doc[]).find((entry) => entry.name === name);

  it('when the Deployment is read, then readiness is /readyz and liveness /healthz on the HTTP port', () => {
    expect(container.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'http' });
    expect(container.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(container.ports).toEqual(expect.arrayContaining([{ name: 'http', containerPort: 3000 }]));
    expect(deployment.spec.selector.matchLabels).toEqual(podLabels);
    expect(deployment.spec.replicas).toBeGreaterThanOrEqual(3);
    expect(deployment.spec.strategy.rollingUpdate.maxUnavailable).toBe(0);
  });

  it('when the pod runs, then it is non-root with a read-only root filesystem and no capabilities, writing only to emptyDirs', () => {
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    expect(pod.securityContext.runAsUser).toBeGreaterThan(0);
    for (const entry of [...pod.initContainers, ...pod.containers] as Doc[]) {
      expect(entry.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
    }
    for (const mount of container.volumeMounts as Doc[]) {
      if (!mount.readOnly) expect(volume(mount.name)).toHaveProperty('emptyDir');
    }
    expect(pod.automountServiceAccountToken).toBe(false);
  });

  it('when keys and clients.json are mounted, then they come read-only from a Secret and the ConfigMap, where the configuration points', () => {
    const keys = mountAt(envOf('CERTS_DIR') ?? '');
    expect(keys).toMatchObject({ readOnly: true });
    expect(volume(keys!.name)).toHaveProperty('secret.secretName');
    const clients = mountAt(envOf('CLIENTS_FILE') ?? '');
    expect(clients).toMatchObject({ readOnly: true, subPath: 'clients.json' });
    expect(volume(clients!.name)?.configMap?.name).toBe(configMap.metadata.name);
    expect(JSON.parse(configMap.data['clients.json'] as string)).toHaveProperty('clients');
  });

  it('when the pod starts, then an init container applies the migrations (under the advisory lock) with the same image and settings', () => {
    const [migrate] = pod.initContainers as Doc[];
    expect(migrate!.image).toBe(container.image);
    expect(migrate!.command).toEqual(['node', 'dist/scripts/migrate.js']);
    expect(fs.existsSync(path.resolve('scripts/migrate.ts'))).toBe(true);
    expect(migrate!.envFrom).toEqual(container.envFrom);
  });

  it('when the ConfigMap and the Deployment environment are loaded, then the configuration is valid for production', () => {
    const env: Record<string, string> = {};
    for (const [name, value] of Object.entries(configMap.data as Record<string, string>)) if (/^[A-Z_]+$/.test(name)) env[name] = value;
    for (const entry of container.env as Doc[]) env[entry.name] = entry.value;
    const config = loadConfig({ ...env, DATABASE_URL: 'postgres://uop@db:5432/uop' });
    expect(config).toMatchObject({ mode: 'production', trustProxy: { hops: 1 }, metrics: { port: 9464, host: '0.0.0.0' } });
    expect(config.shutdownDrainSeconds).toBeLessThan(pod.terminationGracePeriodSeconds - 10);
    expect(container.ports).toEqual(expect.arrayContaining([{ name: 'metrics', containerPort: config.metrics!.port }]));
  });

  it('when the Service, PodDisruptionBudget and HorizontalPodAutoscaler are read, then they select and target this Deployment', () => {
    const service = one('Service');
    expect(matches(service.spec.selector, podLabels)).toBe(true);
    expect(service.spec.sessionAffinity).toBe('None');
    expect((service.spec.ports as Doc[]).map((port) => port.targetPort)).toEqual(expect.arrayContaining(['http', 'metrics']));
    const pdb = one('PodDisruptionBudget');
    expect(matches(pdb.spec.selector.matchLabels, podLabels)).toBe(true);
    expect(pdb.spec.minAvailable).toBeLessThan(deployment.spec.replicas);
    const hpa = one('HorizontalPodAutoscaler');
    expect(hpa.apiVersion).toBe('autoscaling/v2');
    expect(hpa.spec.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: deployment.metadata.name });
    expect(hpa.spec.minReplicas).toBeGreaterThan(pdb.spec.minAvailable);
  });

  it('when kustomization.yaml is read, then it lists every manifest of the folder', () => {
    const kustomization = one('Kustomization');
    const listed = new Set(kustomization.resources as string[]);
    const present = files(path.join(DEPLOY, 'kubernetes'), /\.ya?ml$/)
      .map((file) => path.basename(file))
      .filter((file) => file !== 'kustomization.yaml');
    expect([...listed].sort()).toEqual(present.sort());
  });
});

describe('deploy/docker-compose.yml', () => {
  const compose = documents(path.join(DEPLOY, 'docker-compose.yml'))[0]!;
  const haproxy = fs.readFileSync(path.join(DEPLOY, 'haproxy.cfg'), 'utf8');
  const providers = ['provider-1', 'provider-2', 'provider-3'];

  it('when it is read, then it runs PostgreSQL, three instances, the load balancer, Prometheus and Grafana', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['grafana', 'haproxy', 'postgres', ...providers, 'prometheus'].sort());
    for (const name of providers) {
      const service = compose.services[name];
      expect(service.read_only).toBe(true);
      expect(service.environment).toMatchObject({ NODE_ENV: 'production', METRICS_PORT: '9464' });
      expect(service.environment.DATABASE_URL).toContain('@postgres:5432/');
      expect(service.volumes).toEqual(expect.arrayContaining(['./certs:/app/certs:ro', './clients.json:/app/config/clients.json:ro']));
    }
  });

  it('when the load balancer configuration is read, then it is round robin over the three instances with /readyz checks and no stickiness', () => {
    expect(haproxy).toMatch(/^\s*balance roundrobin$/m);
    expect(haproxy).toMatch(/^\s*option httpchk GET \/readyz$/m);
    expect(haproxy).toMatch(/^\s*retry-on conn-failure$/m);
    expect(haproxy).not.toMatch(/^\s*(cookie|stick|balance source|hash-type)\b/m);
    for (const name of providers) expect(haproxy).toMatch(new RegExp(`^\\s*server ${name} ${name}:3000 check$`, 'm'));
  });

  it('when Prometheus is read, then it scrapes each instance on its metrics port and loads the alert rules', () => {
    const prometheus = documents(path.join(DEPLOY, 'prometheus', 'prometheus.yml'))[0]!;
    expect(prometheus.scrape_configs[0].static_configs[0].targets).toEqual(providers.map((name) => `${name}:9464`));
    expect(prometheus.rule_files).toEqual(['/etc/prometheus/alerts.yml']);
  });
});

describe('deploy/: dashboards and alerts query only metrics the provider exports', () => {
  const exported = new Set<string>(['up']); // Prometheus's own
  for (const metric of registry.getMetricsAsArray()) {
    const { name, type } = metric as unknown as { name: string; type: string };
    exported.add(name);
    if (type === 'histogram') for (const suffix of ['_bucket', '_count', '_sum']) exported.add(name + suffix);
  }
  const alerts = documents(path.join(DEPLOY, 'prometheus', 'alerts.yml'))[0]!;
  const dashboard = JSON.parse(fs.readFileSync(path.join(DEPLOY, 'grafana', 'dashboards', 'unit-oidc-provider.json'), 'utf8')) as Doc;
  const expressions: [string, string][] = [
    ...(alerts.groups as Doc[]).flatMap((group) => (group.rules as Doc[]).map((rule): [string, string] => [`alert ${rule.alert}`, rule.expr])),
    ...(dashboard.panels as Doc[]).flatMap((panel) => (panel.targets as Doc[]).map((target): [string, string] => [`panel ${panel.title}`, target.expr])),
  ];
  const FUNCTIONS = new Set([
    'sum',
    'by',
    'rate',
    'increase',
    'histogram_quantile',
    'max',
    'or',
    'le',
    'route',
    'status',
    'result',
    'kind',
    'scope',
    'state',
    'client_id',
    'grant_type',
    'alg',
    'instance',
    'job',
  ]);

  it.each(expressions)('when %s is read, then every metric it names exists', (_where, expr) => {
    const withoutStrings = expr.replace(/"[^"]*"/g, '""').replace(/\[[^\]]*\]/g, '');
    const names = [...withoutStrings.matchAll(/\b[a-z_][a-z0-9_]*\b/g)].map((match) => match[0]).filter((word) => !FUNCTIONS.has(word));
    expect(names.length).toBeGreaterThan(0);
    for (const name of names) expect([name, exported.has(name)]).toEqual([name, true]);
  });

  it('when the alerts are read, then each has a severity and a summary', () => {
    for (const rule of (alerts.groups as Doc[]).flatMap((group) => group.rules as Doc[])) {
      expect(rule.labels.severity).toMatch(/^(critical|warning|info)$/);
      expect(rule.annotations.summary).toEqual(expect.any(String));
    }
  });
});
