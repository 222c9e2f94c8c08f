import { accessSync, constants } from 'node:fs';
import path from 'node:path';

/** The first executable `name` on PATH, or null. */
export function findProgram(name: string, searchPath = process.env.PATH ?? ''): string | null {
  for (const dir of searchPath.split(path.delimiter).filter(Boolean)) {
    const file = path.join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return null;
}
