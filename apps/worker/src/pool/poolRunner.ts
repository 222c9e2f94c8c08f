/**
 * The runner of WARM_POOL=prespawn|reuse: a job that begins a conversation runs on a
 * pooled process; a job that continues one (`--resume`) runs cold, in its conversation's
 * folder, as with WARM_POOL=off.
 */
import { withStreamInput } from '../cli/buildArgs.js';
import type { ClaudeRunner } from '../cli/runner.js';
import type { WarmPool } from './warmPool.js';

export function createPoolRunner(pool: WarmPool, cold: ClaudeRunner): ClaudeRunner {
  return {
    async run(invocation) {
      if (invocation.conversation.continued) return cold.run(invocation);
      const { outcome, conversationId } = await pool.run({
        spec: { tenantId: invocation.tenantId, args: withStreamInput(invocation.args), env: invocation.env, hosts: invocation.hosts },
        jobId: invocation.jobId,
        prompt: invocation.prompt,
        timeoutMs: invocation.timeoutMs,
        signal: invocation.signal,
        onText: invocation.onText,
        partialMessages: invocation.partialMessages,
      });
      return { ...outcome, conversationId };
    },
  };
}
