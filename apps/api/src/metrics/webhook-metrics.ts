import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { WebhookDispatcher } from '../webhooks/dispatcher.js';

/**
 * A webhook dispatcher's metrics, from its events: deliveries, failed attempts, retries and dropped
 * events as counters, each attempt's duration, and — read when scraped, never reset — whether it holds
 * the lease, how many recordings it follows and how old the oldest event it has not delivered yet is.
 */
export function observeWebhookDispatcher(dispatcher: WebhookDispatcher, registry: Registry): void {
  const registers = [registry];
  const delivered = new Counter({
    name: 'recfleet_webhook_deliveries_total',
    help: 'Events delivered (answered 2xx by the receiver)',
    registers,
  });
  const failures = new Counter({
    name: 'recfleet_webhook_delivery_failures_total',
    help: 'Delivery attempts that failed (network error, timeout, a status other than 2xx)',
    registers,
  });
  const retries = new Counter({
    name: 'recfleet_webhook_retries_total',
    help: 'Delivery attempts scheduled again after a failure',
    registers,
  });
  const dropped = new Counter({
    name: 'recfleet_webhook_dropped_total',
    help: 'Events given up after the last attempt (counted on the record as webhookDropped)',
    registers,
  });
  const attempts = new Histogram({
    name: 'recfleet_webhook_attempt_duration_seconds',
    help: 'Time of one delivery attempt, until the receiver answered or it failed',
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers,
  });
  new Gauge({
    name: 'recfleet_webhook_leader',
    help: '1 while this dispatcher holds the lease and delivers, 0 while another one does',
    registers,
    collect() {
      this.set(dispatcher.leader ? 1 : 0);
    },
  });
  new Gauge({
    name: 'recfleet_webhook_recordings',
    help: 'Recordings whose events this dispatcher is delivering',
    registers,
    collect() {
      this.set(dispatcher.followed);
    },
  });
  new Gauge({
    name: 'recfleet_webhook_oldest_undelivered_event_age_seconds',
    help: 'Age of the oldest event this dispatcher has not delivered yet (0 when it is caught up)',
    registers,
    collect() {
      const at = dispatcher.oldestUndeliveredAt();
      this.set(at === undefined ? 0 : Math.max(0, (Date.now() - at) / 1000));
    },
  });
  dispatcher.on('delivered', (_payload: unknown, _attempt: number, ms: number) => {
    delivered.inc();
    attempts.observe(ms / 1000);
  });
  dispatcher.on('attempt_failed', (_payload: unknown, _attempt: number, _error: string, ms: number) => {
    failures.inc();
    attempts.observe(ms / 1000);
  });
  dispatcher.on('retry', () => retries.inc());
  dispatcher.on('dropped', () => dropped.inc());
}
