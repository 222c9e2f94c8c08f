/**
 * `npm run tenants -- create <name>` and `npm run tenants -- list`: manage tenants
 * without HTTP, against REDIS_URL. Prints the new key once.
 */
import { createKeys, createRedis, loadSharedConfig, TenantStore } from '@claude-queue/shared';

const USAGE = 'usage: npm run tenants -- create <name> | list';

const config = loadSharedConfig();
const [command, ...rest] = process.argv.slice(2);
const redis = createRedis(config.REDIS_URL, 'worker', { maxRetriesPerRequest: 2 });
const tenants = new TenantStore(redis, createKeys(config.QUEUE_PREFIX));

try {
  if (command === 'create' && rest.join(' ').trim()) {
    const tenant = await tenants.create(rest.join(' ').trim());
    console.log(`tenant ${tenant.name} created\n  id:      ${tenant.id}\n  api key: ${tenant.api_key}  (shown once; store it now)`);
  } else if (command === 'list') {
    for (const t of await tenants.list()) console.log(`${t.id}  ${t.created_at}  ${t.name}`);
  } else {
    console.error(USAGE);
    process.exitCode = 2;
  }
} catch (err) {
  console.error(`tenants: ${(err as Error).message}`);
  process.exitCode = 1;
} finally {
  redis.disconnect();
}
