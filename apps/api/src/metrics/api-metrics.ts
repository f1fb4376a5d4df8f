import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/**
 * The HTTP API's metrics, by Prometheus's conventions: monotonic figures are counters (`_total`),
 * durations in seconds, and what is open now a gauge read as it is (never reset by a scrape). Routes
 * are named by their pattern (`/v1/recordings/:id`), never by the URL asked for.
 */
export class ApiMetrics {
  readonly requests: Counter<'method' | 'route' | 'status'>;
  readonly requestDuration: Histogram<'method' | 'route'>;
  readonly eventStreams: Gauge;

  constructor(readonly registry: Registry) {
    this.requests = new Counter({
      name: 'recfleet_api_requests_total',
      help: 'HTTP requests answered, by method, route pattern and status',
      labelNames: ['method', 'route', 'status'],
      registers: [registry],
    });
    this.requestDuration = new Histogram({
      name: 'recfleet_api_request_duration_seconds',
      help: 'Time from a request to its answer (server-sent event streams: to their opening)',
      labelNames: ['method', 'route'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    });
    this.eventStreams = new Gauge({
      name: 'recfleet_api_event_streams',
      help: 'Server-sent event streams open now',
      registers: [registry],
    });
  }
}
