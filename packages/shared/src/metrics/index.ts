export * from './metricsRegistry.js';
export * from './metricsEndpoint.js';
export * from './clusterMetrics.js';
