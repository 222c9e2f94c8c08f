/**
 * `npm run tenants -- <command>`: manage tenants and their keys without HTTP, against
 * REDIS_URL and QUEUE_PREFIX. The same store as the admin API; new keys are printed once.
 * Credentials are set over the admin API only: on a command line they would end up in
 * shell history and `ps`.
 */
import {
  createKeys,
  createRedis,
  defaultTenantLimits,
  describeRedisUrl,
  loadSharedConfig,
  secretsKeyFromConfig,
  startOrExitOnConfigError,
  resolveLimits,
  tenantLimitsSchema,
  TenantStore,
  type Tenant,
} from '@claude-queue/shared';

const USAGE = `usage: npm run tenants -- <command>
  create <name>              create a tenant and its first API key (printed once)
  list                       list tenants
  show <id>                  a tenant with its limits (as set, and in effect)
  limits <id> '<json>'       replace the tenant's limit overrides, e.g. '{"max_concurrency": 2}'
                             ({} = the deployment's defaults; null for a member = unlimited)
  disable <id> | enable <id> refuse or accept the tenant's keys from the next request on
  keys <id>                  list the tenant's keys (prefix and dates, never the key)
  add-key <id>               add an API key (printed once); the others stay valid
  revoke-key <id> <key_id>   revoke a key from its next request on`;

/** A command line we can't run: exit code 2, with the usage text unless it would only repeat the point. */
class UsageError extends Error {
  constructor(
    message: string,
    readonly showUsage = true,
  ) {
    super(message);
  }
}

const config = await startOrExitOnConfigError('tenants', () => loadSharedConfig());
const [command, ...args] = process.argv.slice(2);
const redis = createRedis(config.REDIS_URL, 'worker', { maxRetriesPerRequest: 2 });
const tenants = new TenantStore(redis, createKeys(config.QUEUE_PREFIX));
/**
 * Which deployment a command read or wrote: a tenant made under another QUEUE_PREFIX or
 * in another Redis than the API's has a key the API refuses (401), and a `list` there is
 * empty. On stderr, so stdout stays the command's own output; never the password.
 */
const where = `Redis ${describeRedisUrl(config.REDIS_URL)}, QUEUE_PREFIX=${config.QUEUE_PREFIX}`;

function arg(i: number, what: string): string {
  const value = args[i]?.trim();
  if (!value) throw new UsageError(`${command}: missing ${what}`);
  return value;
}

async function found<T>(value: Promise<T | null | false>, what: string): Promise<T> {
  const v = await value;
  if (v === null || v === false) throw new Error(`no ${what}`);
  return v;
}

function printTenant(t: Tenant): void {
  const shown = { ...t, effective_limits: resolveLimits(t.limits, defaultTenantLimits(config)) };
  console.log(JSON.stringify(shown, null, 2));
}

async function run(): Promise<void> {
  switch (command) {
    case 'create': {
      const name = args.join(' ').trim();
      if (!name) throw new UsageError('create: missing <name>');
      // Sealed under SECRETS_KEY when the deployment has one, as the admin API does.
      const t = await tenants.create(name, {}, new Date(), { secretsKey: secretsKeyFromConfig(config) });
      console.log(
        `tenant ${t.name} created in ${where}\n  id:             ${t.id}\n  api key:        ${t.api_key}  (shown once; store it now)\n  webhook secret: ${t.webhook_secret}  (verifies webhook signatures)`,
      );
      return;
    }
    case 'list':
      for (const t of await tenants.list()) {
        console.log(`${t.id}  ${t.created_at}  ${t.disabled ? 'disabled' : 'enabled '}  keys: ${t.key_count}  ${t.name}`);
      }
      return;
    case 'show':
      return printTenant(await found(tenants.get(arg(0, '<id>')), 'such tenant'));
    case 'limits': {
      const id = arg(0, '<id>');
      let json: unknown;
      try {
        json = JSON.parse(arg(1, "'<json>'"));
      } catch {
        throw new UsageError('limits: the limits must be a JSON object', false);
      }
      const parsed = tenantLimitsSchema.safeParse(json);
      if (!parsed.success) {
        const issues = parsed.error.issues.map((i) => `  ${i.path.join('.') || '(limits)'}: ${i.message}`);
        throw new UsageError(`limits: invalid limits\n${issues.join('\n')}`, false);
      }
      await found(tenants.update(id, { limits: parsed.data }, null), 'such tenant');
      return printTenant(await found(tenants.get(id), 'such tenant'));
    }
    case 'disable':
    case 'enable': {
      const id = arg(0, '<id>');
      await found(tenants.update(id, { disabled: command === 'disable' }, null), 'such tenant');
      console.log(`tenant ${id} ${command}d`);
      return;
    }
    case 'keys': {
      const keys = await found(tenants.listKeys(arg(0, '<id>')), 'such tenant');
      for (const k of keys) console.log(`${k.id}  ${k.prefix}…  created ${k.created_at}  last used ${k.last_used_at ?? 'never'}`);
      return;
    }
    case 'add-key': {
      const key = await found(tenants.addKey(arg(0, '<id>')), 'such tenant');
      console.log(`api key added\n  key id:  ${key.id}\n  api key: ${key.api_key}  (shown once; store it now)`);
      return;
    }
    case 'revoke-key': {
      const [id, keyId] = [arg(0, '<id>'), arg(1, '<key_id>')];
      await found(tenants.revokeKey(id, keyId), 'such key for this tenant');
      console.log(`api key ${keyId} revoked`);
      return;
    }
    default:
      throw new UsageError(command ? `unknown command: ${command}` : 'no command');
  }
}

try {
  if (command) console.error(`tenants: ${where}`);
  await run();
} catch (err) {
  if (err instanceof UsageError) {
    console.error(err.showUsage ? `tenants: ${err.message}\n\n${USAGE}` : `tenants: ${err.message}`);
    process.exitCode = 2;
  } else {
    console.error(`tenants: ${(err as Error).message}`);
    process.exitCode = 1;
  }
} finally {
  redis.disconnect();
}
