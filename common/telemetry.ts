import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Meter } from '@opentelemetry/api';
import { metrics } from '@opentelemetry/api';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { RuntimeNodeInstrumentation } from '@opentelemetry/instrumentation-runtime-node';
import { resourceFromAttributes } from '@opentelemetry/resources';
import type { ViewOptions } from '@opentelemetry/sdk-metrics';
import { AggregationType, InstrumentType, MeterProvider } from '@opentelemetry/sdk-metrics';
import { NodeSDK } from '@opentelemetry/sdk-node';

export interface Telemetry {
  meter: Meter;
  /** Serves the Prometheus text format; mount it on the process's ops server at /metrics. */
  metricsHandler(req: IncomingMessage, res: ServerResponse): void;
  shutdown(): Promise<void>;
}

// The SDK's default histogram buckets suit milliseconds; our durations are in seconds.
const SECONDS_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const BYTES_BUCKETS = [1 << 20, 8 << 20, 32 << 20, 64 << 20, 128 << 20, 256 << 20, 512 << 20, 1 << 30, 2 << 30, 4 << 30];

function views(): ViewOptions[] {
  return [
    {
      instrumentName: '*_seconds',
      instrumentType: InstrumentType.HISTOGRAM,
      aggregation: { type: AggregationType.EXPLICIT_BUCKET_HISTOGRAM, options: { boundaries: SECONDS_BUCKETS } },
    },
    {
      instrumentName: '*_bytes',
      instrumentType: InstrumentType.HISTOGRAM,
      aggregation: { type: AggregationType.EXPLICIT_BUCKET_HISTOGRAM, options: { boundaries: BYTES_BUCKETS } },
    },
  ];
}

/**
 * Process-wide telemetry through the OpenTelemetry Node SDK. It must start before any component
 * creates an instrument (instruments made earlier stay no-ops), so entry points call this first.
 * Traces and logs exporters are off unless the operator sets OTEL_* variables: our product
 * output is events, and an OTLP exporter pointing at nothing would only log errors.
 * Node runtime metrics (event-loop delay and utilisation, GC pauses, heap) come with it: a
 * latency spike on a sidecar is first a question of whether its own thread stalled.
 */
export function startProcessTelemetry(serviceName: string): Telemetry {
  process.env.OTEL_TRACES_EXPORTER ??= 'none';
  process.env.OTEL_LOGS_EXPORTER ??= 'none';
  process.env.OTEL_METRICS_EXPORTER ??= 'none';
  const exporter = new PrometheusExporter({ preventServerStart: true, withoutScopeInfo: true });
  const sdk = new NodeSDK({
    serviceName,
    metricReaders: [exporter],
    views: views(),
    instrumentations: [new RuntimeNodeInstrumentation()],
  });
  sdk.start();
  return {
    meter: metrics.getMeter('faasmeter'),
    metricsHandler: (req, res) => exporter.getMetricsRequestHandler(req, res),
    shutdown: () => sdk.shutdown(),
  };
}

/**
 * A private meter provider with the same views and exporter, for tests and for several
 * components living in one process (the demo), where a global SDK cannot be started twice.
 */
export function createTelemetry(serviceName: string): Telemetry {
  const exporter = new PrometheusExporter({ preventServerStart: true, withoutScopeInfo: true });
  const provider = new MeterProvider({
    resource: resourceFromAttributes({ 'service.name': serviceName }),
    readers: [exporter],
    views: views(),
  });
  return {
    meter: provider.getMeter('faasmeter'),
    metricsHandler: (req, res) => exporter.getMetricsRequestHandler(req, res),
    shutdown: () => provider.shutdown(),
  };
}
