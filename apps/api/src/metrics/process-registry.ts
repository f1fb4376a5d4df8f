import { collectDefaultMetrics, Registry } from 'prom-client';

/**
 * prom-client's default metrics that break Prometheus's naming conventions: gauges named `_total`
 * (promtool: "non-counter metrics should not have _total suffix"). Each is the sum of a gauge that
 * stays, by type (`nodejs_active_handles{type="…"}`, …).
 */
const MISNAMED_DEFAULTS = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
] as const;

/**
 * The Prometheus registry of one process, with Node's default process and runtime metrics (CPU, memory,
 * file descriptors, event loop lag, GC, handles by type). The API and a dispatcher running inside it
 * share one.
 */
export function processRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  for (const name of MISNAMED_DEFAULTS) registry.removeSingleMetric(name);
  return registry;
}
