import { open, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { commitIter, createBranch, createRepo, HubApiError, type CommitOperation, type CommitOutput } from '@huggingface/hub';
import { CheckpointError } from '../../errors.js';
import { checkRepoId, resolveHubUrl, resolveToken } from './endpoint.js';
import { HubFetch, toHubError, type HubCallContext } from './hub_errors.js';
import { buildModelCard } from './model_card.js';
import type { HubProgressCallback } from './progress.js';

export interface PublishModelOptions {
  /** Target repo, `owner/name`; created when missing. */
  repo: string;
  /** Branch to commit to (created from main when missing). Default "main". */
  revision?: string;
  /** Visibility of a repo this call creates; an existing repo keeps its own. */
  private?: boolean;
  /** List what would be uploaded, without any network request. */
  dryRun?: boolean;
  /** Default `HF_ENDPOINT`, else https://huggingface.co. */
  hubUrl?: string;
  /** Token with write access. Default `HF_TOKEN`. Never printed. */
  token?: string;
  onProgress?: HubProgressCallback;
  /** Source checkpoint for the card's `base_model`; default: config.json `_name_or_path`. */
  baseModel?: string;
}

export interface PublishedFile {
  path: string;
  size: number;
  /** Stored through LFS: as decided by the hub on upload, as predicted by the hub's rule on a dry run. */
  lfs: boolean;
}

export interface PublishResult {
  commitUrl?: string;
  files: PublishedFile[];
}

const COMMIT_TITLE = 'Upload SegGPT ONNX model (transformers-seggpt)';

/** The hub's default .gitattributes patterns plus its size and binary rules, for dry-run predictions. */
const LFS_EXTENSIONS = ['.onnx', '.onnx_data', '.safetensors', '.bin', '.pt', '.pth', '.ckpt', '.h5', '.msgpack', '.npy', '.npz', '.pkl', '.tflite', '.ot', '.pb', '.zip', '.gz', '.tar', '.wasm'];
const LFS_SIZE = 10 * 1024 * 1024;

async function predictLfs(path: string, absolute: string, size: number): Promise<boolean> {
  if (size >= LFS_SIZE || LFS_EXTENSIONS.some((ext) => path.toLowerCase().endsWith(ext))) return true;
  const head = Buffer.alloc(Math.min(512, size));
  const handle = await open(absolute, 'r');
  try {
    await handle.read(head, 0, head.length, 0);
  } finally {
    await handle.close();
  }
  return head.includes(0);
}

/** Files to upload, as repo paths: hidden files, leftovers of interrupted writes and the old README are skipped. */
async function listUploads(folder: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(join(folder, prefix), { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.name.startsWith('.') || entry.name.endsWith('.incomplete') || entry.name.endsWith('.tmp')) continue;
    if (entry.isDirectory()) out.push(...(await listUploads(folder, rel)));
    else if (entry.isFile() && rel !== 'README.md') out.push(rel);
  }
  return out.sort();
}

/**
 * Publishes a converted SegGPT folder (config.json, preprocessor_config.json, onnx/*.onnx, …) to
 * the hub with a generated model card as README.md, in one commit. The repo is created when
 * missing; large and binary files go through LFS (the hub decides, the client uploads).
 *
 * @example
 * const { commitUrl, files } = await publishModel('out/seggpt-vit-large', { repo: 'me/seggpt-vit-large-onnx' });
 */
export async function publishModel(folder: string, options: PublishModelOptions): Promise<PublishResult> {
  checkRepoId(options.repo);
  const folderStat = await stat(folder).catch(() => undefined);
  if (!folderStat?.isDirectory()) throw new CheckpointError(`${folder} is not a folder: pass the folder the converter wrote`);
  const paths = await listUploads(folder);
  if (!paths.includes('config.json')) throw new CheckpointError(`${folder} has no config.json: pass the folder the converter wrote`);
  if (!paths.some((p) => /^onnx\/[^/]+\.onnx$/.test(p))) {
    throw new CheckpointError(`${folder} has no onnx/*.onnx: convert the checkpoint before publishing`);
  }

  const card = Buffer.from(await buildModelCard(folder, { repo: options.repo, baseModel: options.baseModel }), 'utf8');
  const planned: PublishedFile[] = [];
  for (const path of paths) {
    const absolute = join(folder, path);
    const { size } = await stat(absolute);
    planned.push({ path, size, lfs: await predictLfs(path, absolute, size) });
  }
  planned.push({ path: 'README.md', size: card.length, lfs: false });
  planned.sort((a, b) => (a.path < b.path ? -1 : 1));
  if (options.dryRun) return { files: planned };

  const hubUrl = resolveHubUrl(options.hubUrl);
  const accessToken = resolveToken(options.token);
  const revision = options.revision || 'main';
  const tracker = new HubFetch(hubUrl);
  const ctx: HubCallContext = { action: 'publish', repo: options.repo, revision, hubUrl, token: accessToken };
  const sizes = new Map(planned.map((f) => [f.path, f.size]));
  const viaLfs = new Set<string>();

  let output: CommitOutput | undefined;
  try {
    const alreadyThere = (err: unknown) => {
      if (!(err instanceof HubApiError && err.statusCode === 409)) throw err;
    };
    // Without a token there is nothing to create a repo with: the commit below gets the hub's refusal.
    if (accessToken) {
      await createRepo({
        repo: options.repo,
        accessToken,
        hubUrl,
        fetch: tracker.fetch,
        ...(options.private !== undefined && { visibility: options.private ? 'private' : 'public' }),
      }).catch(alreadyThere);
    }
    if (revision !== 'main') {
      await createBranch({ repo: options.repo, branch: revision, accessToken, hubUrl, fetch: tracker.fetch }).catch(alreadyThere);
    }

    const operations: CommitOperation[] = [
      ...paths.map((path): CommitOperation => ({ operation: 'addOrUpdate', path, content: pathToFileURL(join(folder, path)) })),
      { operation: 'addOrUpdate', path: 'README.md', content: new Blob([card]) },
    ];
    const events = commitIter({
      repo: options.repo,
      operations,
      title: COMMIT_TITLE,
      branch: revision,
      hubUrl,
      accessToken,
      fetch: tracker.fetch,
      // Plain LFS, which the hub accepts from any client: the path the loopback hub of the tests speaks, so the one
      // users get is the one tested (the library would negotiate Xet with the real hub otherwise).
      useXet: false,
    });
    for (let next = await events.next(); ; next = await events.next()) {
      if (next.done) {
        output = next.value;
        break;
      }
      const event = next.value;
      if (event.event !== 'fileProgress') continue;
      if (event.state === 'error') throw new Error(`the hub rejected ${event.path}`);
      // Only files the hub sent to LFS are hashed by the client.
      if (event.state === 'hashing') viaLfs.add(event.path);
      const total = sizes.get(event.path);
      options.onProgress?.({ file: event.path, loaded: Math.round(event.progress * (total ?? 0)), total, phase: event.state });
    }
  } catch (err) {
    throw toHubError(err, ctx, tracker);
  }

  // Regular files travel inside the commit request itself: report them done with it.
  for (const f of planned) {
    if (!viaLfs.has(f.path)) options.onProgress?.({ file: f.path, loaded: f.size, total: f.size, phase: 'uploading' });
  }
  return { commitUrl: output?.commit.url, files: planned.map((f) => ({ ...f, lfs: viaLfs.has(f.path) })) };
}
