/**
 * Where a tenant's files live under DATA_DIR. Every worker of a deployment shares
 * DATA_DIR, so any worker can resume any conversation:
 *
 *   DATA_DIR/tenants/<tenant>/home             HOME of the tenant's CLI runs
 *   DATA_DIR/tenants/<tenant>/claude           CLAUDE_CONFIG_DIR: transcripts, settings
 *   DATA_DIR/tenants/<tenant>/workspaces/<id>  one cwd per conversation
 */
import path from 'node:path';

const SAFE_ID = /^[A-Za-z0-9-]+$/;

function segment(id: string, what: string): string {
  // Ids come from our own stores, but a path is no place to trust that.
  if (!SAFE_ID.test(id)) throw new Error(`unsafe ${what} id for a path: ${JSON.stringify(id)}`);
  return id;
}

export interface TenantPaths {
  root: string;
  home: string;
  configDir: string;
  workspace(workspaceId: string): string;
}

export function tenantPaths(dataDir: string, tenantId: string): TenantPaths {
  const root = path.join(dataDir, 'tenants', segment(tenantId, 'tenant'));
  return {
    root,
    home: path.join(root, 'home'),
    configDir: path.join(root, 'claude'),
    workspace: (workspaceId) => path.join(root, 'workspaces', segment(workspaceId, 'workspace')),
  };
}
