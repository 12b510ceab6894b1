import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, dirname, isAbsolute, join, normalize, sep } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import { downloadFile, listFiles, modelInfo, type ListFileEntry } from '@huggingface/hub';
import { CheckpointError, HubError } from '../../errors.js';
import { checkRepoId, resolveHubUrl, resolveToken } from './endpoint.js';
import { HubFetch, toHubError, type HubCallContext } from './hub_errors.js';
import type { HubProgressCallback } from './progress.js';
import { isProcessAlive } from '../node/processes.js';

export interface DownloadCheckpointOptions {
  /** Branch, tag or commit sha. Default "main". */
  revision?: string;
  /** Root of the download cache. Default `$XDG_CACHE_HOME/transformers-seggpt/hub` (`~/.cache/...`). */
  cacheDir?: string;
  /** Default `HF_ENDPOINT`, else https://huggingface.co. */
  hubUrl?: string;
  /** Needed for private or gated repos. Default `HF_TOKEN`. */
  token?: string;
  onProgress?: HubProgressCallback;
}

const CONFIG_FILES = ['config.json', 'preprocessor_config.json'];
const WEIGHTS = 'model.safetensors';
const WEIGHTS_INDEX = 'model.safetensors.index.json';

export function defaultCacheDir(): string {
  return join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'transformers-seggpt', 'hub');
}

/** Joins a repo path onto the snapshot folder, refusing paths that would leave it. */
function inside(folder: string, repoPath: string): string {
  const rel = normalize(repoPath);
  if (isAbsolute(rel) || rel === '..' || rel.startsWith(`..${sep}`)) {
    throw new CheckpointError(`Refusing the repo path "${repoPath}": it points outside the checkpoint folder`);
  }
  return join(folder, rel);
}

/** `<file>.<pid>-<random>.incomplete`: a download in progress, or one of a process that died. */
const INCOMPLETE = /\.(\d+)-[0-9a-f]+\.incomplete$/;

/** Removes what interrupted downloads of dead processes left in `dir`. */
async function removeUnfinished(dir: string): Promise<void> {
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const pid = Number(INCOMPLETE.exec(name)?.[1]);
    if (pid && !isProcessAlive(pid)) await rm(join(dir, name), { force: true });
  }
}

/**
 * The marker of a verified file: the checksum it had when it was checked, with its size and modification time then.
 * Markers live apart from the snapshot (`models--<owner>--<name>/.verified/<commit>/<path>`), which holds the
 * checkpoint's files only.
 */
function markerOf(dest: string): string {
  const snapshot = dirname(dest);
  return join(dirname(snapshot), '.verified', basename(snapshot), `${basename(dest)}.json`);
}

interface VerifiedMarker {
  oid: string;
  size: number;
  mtimeMs: number;
}

async function writeVerified(dest: string, oid: string): Promise<void> {
  const { size, mtimeMs } = await stat(dest);
  const marker = markerOf(dest);
  await mkdir(dirname(marker), { recursive: true });
  await writeFile(marker, `${JSON.stringify({ oid, size, mtimeMs } satisfies VerifiedMarker)}\n`);
}

/**
 * Whether the cached `dest` is the file the hub announced: its marker says it was verified and it has not changed
 * since (size and modification time); a file without a valid marker is hashed again. A file that fails is removed
 * (it is this cache's own copy) and downloaded again.
 */
async function isVerified(dest: string, size: number, oid: string | undefined, algorithm: 'sha1' | 'sha256', lfs: boolean): Promise<boolean> {
  let info;
  try {
    info = await stat(dest);
  } catch {
    return false;
  }
  if (info.size !== size) return false;
  try {
    const marker = JSON.parse(await readFile(markerOf(dest), 'utf8')) as VerifiedMarker;
    if (marker.oid === oid && marker.size === info.size && marker.mtimeMs === info.mtimeMs) return true;
  } catch {
    // no marker, or an unreadable one: check the bytes
  }
  if (!oid) return false;
  const hash = createHash(algorithm);
  if (!lfs) hash.update(`blob ${size}\0`);
  await pipeline(createReadStream(dest), hash);
  if (hash.digest('hex') === oid) {
    await writeVerified(dest, oid);
    return true;
  }
  await rm(dest, { force: true });
  await rm(markerOf(dest), { force: true });
  return false;
}

function notACheckpoint(repoId: string, revision: string, file: string): HubError {
  return new HubError(
    `"${repoId}"@${revision} has no ${file}: not a SegGPT checkpoint (expected config.json, preprocessor_config.json and model.safetensors)`,
  );
}

/** The shard files named by a safetensors index, in first-seen order. */
function shardsOf(indexJson: string, indexPath: string): string[] {
  let index: { weight_map?: Record<string, string> };
  try {
    index = JSON.parse(indexJson);
  } catch {
    throw new CheckpointError(`${indexPath} is not valid JSON: the checkpoint's weight index is damaged`);
  }
  if (!index.weight_map || typeof index.weight_map !== 'object') {
    throw new CheckpointError(`${indexPath} has no weight_map: the checkpoint's weight index is damaged`);
  }
  return [...new Set(Object.values(index.weight_map))];
}

/**
 * Downloads a SegGPT checkpoint (config.json, preprocessor_config.json and model.safetensors, or
 * its index and shards) from the hub into `<cacheDir>/models--<owner>--<name>/<commit sha>/` and
 * returns that folder. New files are streamed to a temporary name (cut at the announced size), checked against the
 * hub's checksum, renamed, and marked verified; a cached file is reused only while it is unchanged since it was
 * verified (else it is hashed again). What interrupted downloads left behind is removed.
 *
 * @example
 * const folder = await downloadCheckpoint('BAAI/seggpt-vit-large');
 * // → ~/.cache/transformers-seggpt/hub/models--BAAI--seggpt-vit-large/<sha>
 */
export async function downloadCheckpoint(repoId: string, options: DownloadCheckpointOptions = {}): Promise<string> {
  checkRepoId(repoId);
  const hubUrl = resolveHubUrl(options.hubUrl);
  const accessToken = resolveToken(options.token);
  const revision = options.revision || 'main';
  const tracker = new HubFetch(hubUrl);
  const ctx: HubCallContext = { action: 'download', repo: repoId, revision, hubUrl, token: accessToken };
  const common = { repo: repoId, hubUrl, accessToken, fetch: tracker.fetch };

  let commit: string;
  const entries = new Map<string, ListFileEntry>();
  try {
    const info = await modelInfo({ name: repoId, revision, hubUrl, accessToken, fetch: tracker.fetch, additionalFields: ['sha'] });
    commit = /^[0-9a-f]{40}$/.test(info.sha ?? '') ? info.sha : revision;
    for await (const entry of listFiles({ ...common, revision: commit, recursive: true })) {
      if (entry.type === 'file') entries.set(entry.path, entry);
    }
  } catch (err) {
    throw toHubError(err, ctx, tracker);
  }

  for (const file of CONFIG_FILES) if (!entries.has(file)) throw notACheckpoint(repoId, revision, file);
  const weights = entries.has(WEIGHTS) ? WEIGHTS : entries.has(WEIGHTS_INDEX) ? WEIGHTS_INDEX : undefined;
  if (!weights) throw notACheckpoint(repoId, revision, WEIGHTS);

  const folder = join(options.cacheDir ?? defaultCacheDir(), `models--${repoId.replace('/', '--')}`, encodeURIComponent(commit));

  const fetchOne = async (path: string): Promise<string> => {
    const entry = entries.get(path);
    if (!entry) throw notACheckpoint(repoId, revision, path);
    const dest = inside(folder, path);
    const total = entry.lfs?.size ?? entry.size;
    // LFS objects are named by their sha256, regular files by their git blob sha1.
    const expected = entry.lfs?.oid ?? entry.oid;
    const algorithm = entry.lfs ? 'sha256' : 'sha1';
    await mkdir(dirname(dest), { recursive: true });
    await removeUnfinished(dirname(dest));
    if (await isVerified(dest, total, expected, algorithm, Boolean(entry.lfs))) {
      options.onProgress?.({ file: path, loaded: total, total });
      return dest;
    }
    const tmp = `${dest}.${process.pid}-${randomBytes(4).toString('hex')}.incomplete`;
    try {
      const blob = await downloadFile({ ...common, path, revision: commit });
      if (!blob) throw notACheckpoint(repoId, revision, path);
      const hash = createHash(algorithm);
      if (!entry.lfs) hash.update(`blob ${total}\0`);
      let loaded = 0;
      const counter = new Transform({
        transform(chunk: Buffer, _encoding, done) {
          loaded += chunk.length;
          // A body that runs past the size the hub announced is cut at once, not written to the end.
          if (loaded > total) return done(new HubError(`The download of ${path} from "${repoId}" sent more than the ${total} bytes the hub announced: the transfer is corrupted, retry`));
          hash.update(chunk);
          options.onProgress?.({ file: path, loaded, total });
          done(null, chunk);
        },
      });
      options.onProgress?.({ file: path, loaded: 0, total });
      await pipeline(Readable.fromWeb(blob.stream() as NodeReadableStream), counter, createWriteStream(tmp));
      if (loaded !== total) {
        throw new HubError(`The download of ${path} from "${repoId}" stopped at ${loaded} of ${total} bytes: retry`);
      }
      const digest = hash.digest('hex');
      if (expected && digest !== expected) {
        throw new HubError(`${path} from "${repoId}" does not match the hub's checksum: the download was corrupted, retry`);
      }
      await rename(tmp, dest);
      await writeVerified(dest, expected ?? digest);
      return dest;
    } catch (err) {
      await rm(tmp, { force: true });
      throw toHubError(err, { ...ctx, file: path }, tracker);
    }
  };

  for (const file of CONFIG_FILES) await fetchOne(file);
  let config: any;
  try {
    config = JSON.parse(await readFile(join(folder, 'config.json'), 'utf8'));
  } catch {
    throw new CheckpointError(`config.json of "${repoId}" is not valid JSON: not a usable SegGPT checkpoint`);
  }
  if (config?.model_type !== 'seggpt') {
    throw new CheckpointError(
      `"${repoId}" is not a SegGPT checkpoint: config.json has model_type ${JSON.stringify(config?.model_type)}, expected "seggpt"`,
    );
  }
  const weightsPath = await fetchOne(weights);
  if (weights === WEIGHTS_INDEX) {
    for (const shard of shardsOf(await readFile(weightsPath, 'utf8'), weightsPath)) {
      if (!entries.has(shard)) throw notACheckpoint(repoId, revision, shard);
      await fetchOne(shard);
    }
  }
  return folder;
}
