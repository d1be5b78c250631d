/**
 * Metrics as data and their Prometheus text form (pure: no IO). The server
 * gathers the figures (lib/server/server_metrics.ts); this only writes them.
 *
 * @module
 */
export {
  formatMetrics,
  formatValue,
  type MetricFamily,
  type MetricType,
  PROMETHEUS_CONTENT_TYPE,
  type Sample,
} from "./prometheus_text.ts";
