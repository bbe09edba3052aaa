import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { EventStore, Subscription } from '../es/eventStore.js';
import type { ProjectionRunner } from '../es/projections.js';

/**
 * What operators see in Prometheus (GET /metrics): requests per operation, appends, projection
 * lag, live-feed clients, turns and job runs, plus the process's own figures. Counters that come
 * from the log (turns, cron runs) are fed by a subscription from the head at start-up, so they
 * count this process's lifetime, like every Prometheus counter.
 */
export type Metrics = {
  registry: Registry;
  /** One finished HTTP request; `operation` is the operation table's name (or `other`). */
  observeRequest(operation: string, method: string, status: number, seconds: number): void;
  /** One append to the event store (its events, how long it took, whether it conflicted). */
  observeAppend(events: number, seconds: number, outcome: 'ok' | 'conflict' | 'error'): void;
  start(): Promise<void>;
  stop(): Promise<void>;
};

export type MetricsSources = {
  eventStore: EventStore;
  projections: ProjectionRunner;
  liveListeners: () => number;
};

const TURN_OUTCOMES: Record<string, string> = { AssistantMessageRecorded: 'answered', TurnFailed: 'failed' };
const JOB_OUTCOMES: Record<string, string> = { CronTriggered: 'triggered', CronRunFailed: 'failed' };

export function createMetrics(sources: MetricsSources): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'kinbot_' });

  const requests = new Histogram({
    name: 'kinbot_http_request_duration_seconds',
    help: 'HTTP request duration by operation, method and status class',
    labelNames: ['operation', 'method', 'status'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
    registers: [registry],
  });
  const appends = new Histogram({
    name: 'kinbot_event_appends_duration_seconds',
    help: 'Event store appends and their latency, by outcome',
    labelNames: ['outcome'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5],
    registers: [registry],
  });
  const appendedEvents = new Counter({ name: 'kinbot_events_appended_total', help: 'Events appended by this process', registers: [registry] });
  const turns = new Histogram({
    name: 'kinbot_turn_duration_seconds',
    help: 'LLM turns from start to answer or failure, by outcome',
    labelNames: ['outcome'] as const,
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
    registers: [registry],
  });
  const turnsStarted = new Counter({ name: 'kinbot_turns_started_total', help: 'LLM turns started', registers: [registry] });
  const jobRuns = new Counter({ name: 'kinbot_job_runs_total', help: 'Scheduled (cron) runs, by outcome', labelNames: ['outcome'] as const, registers: [registry] });

  new Gauge({
    name: 'kinbot_live_feed_clients',
    help: 'Connected live-feed listeners (/api/sse clients and GraphQL subscriptions)',
    registers: [registry],
    collect() {
      this.set(sources.liveListeners());
    },
  });
  new Gauge({
    name: 'kinbot_projection_lag_events',
    help: 'Events in the log that a projection has not applied yet',
    labelNames: ['projection'] as const,
    registers: [registry],
    async collect() {
      const head = await sources.eventStore.headPosition();
      for (const projection of sources.projections.status()) this.set({ projection: projection.name }, Math.max(0, head - projection.position));
    },
  });

  /** Start times of the turns in progress, by queue item: a turn's duration is measured on its own events. */
  const turnStarts = new Map<string, number>();
  let subscription: Subscription | null = null;

  return {
    registry,
    observeRequest(operation, method, status, seconds) {
      requests.observe({ operation, method, status: `${Math.floor(status / 100)}xx` }, seconds);
    },
    observeAppend(events, seconds, outcome) {
      appends.observe({ outcome }, seconds);
      if (outcome === 'ok') appendedEvents.inc(events);
    },
    async start() {
      const head = await sources.eventStore.headPosition();
      subscription = sources.eventStore.subscribeToAll({ afterPosition: head }, (event) => {
        const data = event.data as { queueItemId?: string };
        if (event.type === 'TurnStarted' && data.queueItemId) {
          turnsStarted.inc();
          turnStarts.set(data.queueItemId, Date.parse(event.metadata.occurredAt));
        }
        const outcome = TURN_OUTCOMES[event.type];
        if (outcome && data.queueItemId) {
          const started = turnStarts.get(data.queueItemId);
          turnStarts.delete(data.queueItemId);
          if (started !== undefined) turns.observe({ outcome }, Math.max(0, Date.parse(event.metadata.occurredAt) - started) / 1000);
        }
        const job = JOB_OUTCOMES[event.type];
        if (job) jobRuns.inc({ outcome: job });
      });
    },
    async stop() {
      await subscription?.stop();
      subscription = null;
    },
  };
}

/** Times every append of `eventStore` into `metrics`, leaving the store itself untouched. */
export function measuredEventStore(eventStore: EventStore, metrics: () => Metrics | null): EventStore {
  const append: EventStore['append'] = async (stream, events, expected) => {
    const started = process.hrtime.bigint();
    const seconds = () => Number(process.hrtime.bigint() - started) / 1e9;
    try {
      const result = await eventStore.append(stream, events, expected);
      metrics()?.observeAppend(events.length, seconds(), 'ok');
      return result;
    } catch (error) {
      const conflict = (error as { code?: string }).code === 'WRONG_EXPECTED_REVISION';
      metrics()?.observeAppend(events.length, seconds(), conflict ? 'conflict' : 'error');
      throw error;
    }
  };
  return Object.assign(Object.create(eventStore) as EventStore, { append });
}
