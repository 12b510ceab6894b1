/**
 * Folders that appear whole or not at all: a result is built in a hidden staging folder beside its destination and
 * renamed into place at the end. Staging folders of processes that died (Ctrl-C, kill -9, a crash) are removed by the
 * next run that stages into the same parent; nothing else is ever deleted without `replace`.
 */
import { existsSync, rmSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, rename, rm, rmdir } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { InputError } from '../../errors.js';
import { isProcessAlive } from './processes.js';

const HOST = hostname().replace(/[^\w.-]/g, '_');
/** `.<name>.partial-<host>-<pid>-<random>` */
const STAGING = /^\.(.+)\.partial-([\w.-]+)-(\d+)-\w+$/;

/** Removes staging folders in `parent` left by dead processes of this machine. Returns what was removed. */
export async function removeStaleStaging(parent: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(parent);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const match = STAGING.exec(name);
    if (!match || match[2] !== HOST || isProcessAlive(Number(match[3]))) continue;
    await rm(join(parent, name), { recursive: true, force: true });
    removed.push(join(parent, name));
  }
  return removed;
}

/** Staging folders of this process not yet placed or removed. */
const active = new Set<string>();

/** Creates a fresh staging folder for `destination` (after clearing stale ones in the same parent). */
export async function createStaging(destination: string): Promise<string> {
  const parent = dirname(destination);
  await mkdir(parent, { recursive: true });
  await removeStaleStaging(parent);
  const staging = await mkdtemp(join(parent, `.${basename(destination)}.partial-${HOST}-${process.pid}-`));
  active.add(staging);
  return staging;
}

/** Removes a staging folder that will not be placed. */
export async function discardStaging(staging: string): Promise<void> {
  active.delete(staging);
  await rm(staging, { recursive: true, force: true });
}

/**
 * Removes this process's staging folders right now, synchronously: for a SIGINT/SIGTERM handler of an application
 * (the library installs none). Returns what was removed.
 */
export function discardActiveStagingSync(): string[] {
  const removed = [...active];
  for (const staging of removed) rmSync(staging, { recursive: true, force: true });
  active.clear();
  return removed;
}

/** A placed folder gets the usual permissions (mkdtemp makes it 0700). */
async function publishMode(folder: string): Promise<void> {
  await chmod(folder, 0o777 & ~process.umask());
}

export interface PlaceOptions {
  /** Replace an existing destination (the old one is removed only after the new one is in place). */
  replace?: boolean;
}

/**
 * Renames `staging` to `destination`. Without `replace`, a destination that exists (or appears meanwhile) is never
 * touched: InputError, and the staging folder is removed.
 */
export async function placeStaging(staging: string, destination: string, options: PlaceOptions = {}): Promise<void> {
  await publishMode(staging);
  try {
    await place(staging, destination, options);
  } finally {
    active.delete(staging);
  }
}

async function place(staging: string, destination: string, options: PlaceOptions): Promise<void> {
  if (!options.replace) {
    try {
      // An exclusive mkdir reserves the name: it fails when anything is there, and rename may replace only this empty folder.
      await mkdir(destination);
    } catch (error) {
      await rm(staging, { recursive: true, force: true });
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
        throw new InputError(`${destination} appeared while converting (another process, or a folder made meanwhile): it was left as it is; choose another --output or pass --overwrite`);
      }
      throw error;
    }
    try {
      await rename(staging, destination);
    } catch (error) {
      await rmdir(destination).catch(() => undefined);
      await rm(staging, { recursive: true, force: true });
      throw error;
    }
    return;
  }
  if (!existsSync(destination)) {
    await rename(staging, destination);
    return;
  }
  const previous = `${staging}.previous`;
  await rename(destination, previous);
  try {
    await rename(staging, destination);
  } catch (error) {
    await rename(previous, destination);
    throw error;
  }
  await rm(previous, { recursive: true, force: true });
}
