export * from './client.js';
export * from './claudeQueueError.js';
export type { EventsOptions } from './followJobEvents.js';
export { parseSse, type SseMessage } from './parseSse.js';
export * from './types.js';
export * from './verifyWebhook.js';
export * from './webhookVerificationError.js';
