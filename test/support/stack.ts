/**
 * The whole service in one test process: a fresh Redis prefix and DATA_DIR, the API on
 * a loopback port, one in-process worker, and a tenant. The worker runs the real
 * `claude` against a fake model API, or the fake CLI where a failure must be forced.
 */
import { fileURLToPath } from 'node:url';
import { createLogger } from '@claude-queue/shared';
import { createClaudeWorker, type ClaudeWorker } from '@claude-queue/worker';
import { startTestApi, type TestApi } from './apiServer.js';
import { createTestEnv, type TestEnv } from './env.js';
import { startFakeAnthropic, type FakeAnthropic } from './fakeAnthropic.js';

export const FAKE_CLAUDE = fileURLToPath(new URL('./fake-claude.mjs', import.meta.url));

export interface StackOptions {
  /** `real`: the installed CLI against a fake Messages API; `fake`: test/support/fake-claude.mjs. */
  cli: 'real' | 'fake';
  /** Extra API configuration. */
  api?: Record<string, string>;
  /** Extra worker configuration. */
  worker?: Record<string, string>;
  tenantName?: string;
  /** Something put between the worker and the fake model API (real CLI only): the worker's ANTHROPIC_BASE_URL is its url. */
  modelFront?: (modelUrl: string) => Promise<{ url: string; close(): Promise<void> }>;
}

export interface Stack {
  env: TestEnv;
  api: TestApi;
  worker: ClaudeWorker;
  /** The fake model API (real CLI only). */
  model: FakeAnthropic | null;
  tenant: { id: string; api_key: string };
  close(): Promise<void>;
}

export async function startStack(options: StackOptions): Promise<Stack> {
  const env = await createTestEnv();
  const model = options.cli === 'real' ? await startFakeAnthropic() : null;
  const front = model && options.modelFront ? await options.modelFront(model.url) : null;
  const api = await startTestApi(env.apiConfig(options.api));
  const worker = createClaudeWorker({
    config: env.workerConfig({ ...(options.cli === 'fake' ? { CLAUDE_BIN: FAKE_CLAUDE } : {}), ...options.worker }),
    logger: createLogger('worker', 'silent'),
    env: model ? { PATH: process.env.PATH, ANTHROPIC_BASE_URL: front?.url ?? model.url, ANTHROPIC_API_KEY: 'sk-ant-test-deployment' } : { PATH: process.env.PATH },
  });
  await worker.ready;
  const tenant = await api.createTenant(options.tenantName ?? 'tenant');
  return {
    env,
    api,
    worker,
    model,
    tenant,
    async close() {
      await worker.close(1000);
      await api.close();
      await front?.close();
      await model?.close();
      await env.cleanup();
    },
  };
}
