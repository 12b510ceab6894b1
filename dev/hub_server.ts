/**
 * A loopback stand-in for the Hugging Face hub, for tests only.
 *
 * It speaks the HTTP that Transformers.js (remote model loading) and @huggingface/hub (downloadFile,
 * modelInfo, listFiles, pathsInfo, createRepo, createBranch, commit / uploadFiles) send:
 *
 * - `GET|HEAD /{repo}/resolve/{rev}/{path}`: regular files are served directly (200, or 206 for a
 *   `Range`), LFS files answer 302 to a "CDN" URL on this same server, like the real hub. Errors
 *   carry the hub's `X-Error-Code` (RepoNotFound, RevisionNotFound, EntryNotFound).
 * - `/api/models/{repo}[/revision/{rev}]`, `/api/models/{repo}/tree/{rev}[/{path}]`,
 *   `POST /api/models/{repo}/paths-info/{rev}`.
 * - Uploads: `POST /api/repos/create`, `POST /api/models/{repo}/branch/{branch}`,
 *   `POST /api/models/{repo}/preupload/{rev}`, `POST /{repo}.git/info/lfs/objects/batch` (basic, or
 *   multipart when `lfsMultipartChunkSize` is set), the signed LFS PUT targets, and
 *   `POST /api/models/{repo}/commit/{rev}` (NDJSON).
 *
 * Everything that arrives is kept in `received` so tests can compare bytes. LFS uploads are
 * rejected unless their sha256 and size match the oid the client announced.
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable, Transform } from 'node:stream';

/** A file's content: a path on this machine (read lazily) or the bytes themselves. */
export type HubFileSource = string | Uint8Array;

export interface HubRepoSpec {
  /** Branch the files are served under (default "main"); the commit sha works too. */
  revision?: string;
  /** Private repos answer 401 (RepoNotFound) unless the request carries the server's token. */
  private?: boolean;
  files: Record<string, HubFileSource>;
}

export interface HubServerOptions {
  /** Keys are "owner/name". */
  repos?: Record<string, HubRepoSpec>;
  /** When set, upload endpoints (and private repos) require `Authorization: Bearer <token>`. */
  token?: string;
  /** Offer the hub's multipart LFS transfer: files larger than this go up in parts of this size. */
  lfsMultipartChunkSize?: number;
  /** Largest request body accepted (413 above). Default 256 MiB. */
  maxBodyBytes?: number;
  /** Entries per page of the tree API (the client follows the `Link: rel="next"` header). Default 1000. */
  treePageSize?: number;
  /** Answer only `resolve` URLs (and the CDN): every `/api/...` request gets 404, as a plain file mirror would. */
  resolveOnly?: boolean;
  /** Serve LFS files from a second origin (another port), so the hub's 302 crosses origins like the real CDN's. */
  separateCdn?: boolean;
  /** CDN answers carry `X-Cache: Hit from cloudfront`, as the hub's CDN does (clients then reuse the CDN URL). */
  cdnCacheHeader?: boolean;
  /** The CDN's answer for the file served from local `path` runs `bytes` past its size, without a Content-Length. */
  overrun?: { path: string; bytes: number };
  /**
   * Limit file bodies to `bytesPerSecond` in all (one link shared by every response, like a real connection), sent
   * in chunks of `chunkBytes` (default 64 KiB): a benchmark's link speed, or time for a test to interrupt a download.
   */
  throttle?: Throttle;
}

export type AuthState = 'none' | 'valid' | 'invalid';

export interface Throttle {
  bytesPerSecond: number;
  chunkBytes?: number;
}

export interface ReceivedRequest {
  /** 'hub', or 'cdn' for the second origin of `separateCdn`. */
  origin: 'hub' | 'cdn';
  method: string;
  /** Path and query, as sent. */
  url: string;
  /** Whether an Authorization header came, and whether it matched the token (the header itself is not kept). */
  auth: AuthState;
  /** The `Range` header, when sent. */
  range?: string;
  /** Status of the answer, set once it is sent. */
  status?: number;
}

export interface ReceivedCommit {
  repo: string;
  revision: string;
  oid: string;
  summary: string;
  description?: string;
  /** Regular files, decoded from the NDJSON body. */
  files: { path: string; content: Buffer }[];
  /** LFS pointers; their bytes are in `lfsObjects`. */
  lfsFiles: { path: string; oid: string; size: number }[];
  deletedFiles: string[];
}

export interface HubServerReceived {
  requests: ReceivedRequest[];
  createdRepos: { repo: string; visibility?: string }[];
  createdBranches: { repo: string; branch: string }[];
  preuploads: { repo: string; revision: string; files: { path: string; size: number; uploadMode: 'lfs' | 'regular' }[] }[];
  lfsBatches: { repo: string; transfers: string[]; transfer: string; objects: { oid: string; size: number }[] }[];
  /** sha256 → bytes of every verified LFS upload. */
  lfsObjects: Map<string, Buffer>;
  commits: ReceivedCommit[];
}

export interface HubServer {
  /** `http://127.0.0.1:<port>`, no trailing slash: pass as `hubUrl`, or `url + '/'` as Transformers.js `env.remoteHost`. */
  url: string;
  received: HubServerReceived;
  /** The bytes of `path` in `repo` at `revision` (branch or commit sha; default "main"), after any commits. */
  fileAt(repo: string, path: string, revision?: string): Promise<Buffer | undefined>;
  /** Paths present in `repo` at `revision`, sorted. */
  filesAt(repo: string, revision?: string): string[];
  /** Head commit sha of a branch. */
  commitOf(repo: string, revision?: string): string | undefined;
  /** Makes `files` the content of branch `revision` of `repo` (a new commit; the repo is created when missing). */
  setFiles(repo: string, revision: string, files: Record<string, HubFileSource>): Promise<string>;
  /** `http://127.0.0.1:<port>` of the CDN origin (the hub's own URL without `separateCdn`). */
  cdnUrl: string;
  /** Changes (or, with undefined, lifts) the throttle of file bodies. */
  setThrottle(throttle: HubServerOptions['throttle']): void;
  close(): Promise<void>;
}

/** Files the hub stores in LFS whatever their size (the default .gitattributes patterns). */
const LFS_EXTENSIONS = [
  '.safetensors', '.onnx', '.onnx_data', '.bin', '.pt', '.pth', '.ckpt', '.h5', '.msgpack', '.npy', '.npz',
  '.pkl', '.pickle', '.tflite', '.ot', '.pb', '.arrow', '.parquet', '.zip', '.gz', '.tar', '.zst', '.wasm',
];
export const LFS_SIZE_THRESHOLD = 10 * 1024 * 1024;

/** The hub's upload-mode rule: by extension, by size, or binary content in the first bytes. */
export function isLfsFile(path: string, size: number, head: Uint8Array): boolean {
  const lower = path.toLowerCase();
  if (LFS_EXTENSIONS.some((ext) => lower.endsWith(ext))) return true;
  if (size >= LFS_SIZE_THRESHOLD) return true;
  return head.includes(0);
}

interface StoredFile {
  size: number;
  /** Git blob sha1 of the stored object (of the pointer for LFS files). */
  gitOid: string;
  sha256: string;
  lfs: boolean;
  source: { kind: 'path'; path: string } | { kind: 'bytes'; bytes: Buffer };
}

interface Commit {
  oid: string;
  title: string;
  date: string;
  files: Map<string, StoredFile>;
}

interface Repo {
  id: string;
  private: boolean;
  createdAt: string;
  branches: Map<string, string>;
  commits: Map<string, Commit>;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly errorCode?: string,
  ) {
    super(message);
  }
}

const sha1 = (data: string | Uint8Array) => createHash('sha1').update(data).digest('hex');
const sha256Hex = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');
const gitBlobOid = (content: Uint8Array) => sha1(Buffer.concat([Buffer.from(`blob ${content.length}\0`), content]));
const lfsPointer = (oid: string, size: number) => `version https://git-lfs.github.com/spec/v1\noid sha256:${oid}\nsize ${size}\n`;

function storedFromBytes(path: string, bytes: Buffer, lfs = isLfsFile(path, bytes.length, bytes.subarray(0, 512))): StoredFile {
  const sha256 = sha256Hex(bytes);
  const gitOid = lfs ? gitBlobOid(Buffer.from(lfsPointer(sha256, bytes.length))) : gitBlobOid(bytes);
  return { size: bytes.length, gitOid, sha256, lfs, source: { kind: 'bytes', bytes } };
}

async function storedFromPath(path: string, file: string): Promise<StoredFile> {
  const { size } = await stat(file);
  const head = Buffer.alloc(Math.min(512, size));
  const handle = await open(file, 'r');
  try {
    await handle.read(head, 0, head.length, 0);
  } finally {
    await handle.close();
  }
  const lfs = isLfsFile(path, size, head);
  const h256 = createHash('sha256');
  const h1 = createHash('sha1').update(`blob ${size}\0`);
  for await (const chunk of createReadStream(file)) {
    h256.update(chunk as Buffer);
    if (!lfs) h1.update(chunk as Buffer);
  }
  const sha256 = h256.digest('hex');
  const gitOid = lfs ? gitBlobOid(Buffer.from(lfsPointer(sha256, size))) : h1.digest('hex');
  return { size, gitOid, sha256, lfs, source: { kind: 'path', path: file } };
}

function contentType(path: string): string {
  if (path.endsWith('.json')) return 'application/json; charset=utf-8';
  if (path.endsWith('.md') || path.endsWith('.txt')) return 'text/plain; charset=utf-8';
  return 'application/octet-stream';
}

/** `bytes=a-b`, `bytes=a-`, `bytes=-n`; anything else (several ranges included) is ignored like many servers do. */
function parseRange(header: string | undefined, size: number): { start: number; end: number } | 'unsatisfiable' | undefined {
  const m = header?.match(/^bytes=(\d*)-(\d*)$/);
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  let start: number;
  let end: number;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0) return 'unsatisfiable';
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (start >= size || start > end) return 'unsatisfiable';
  return { start, end };
}

const CORS_HEADERS = {
  'Access-Control-Allow-Origin': '*',
  'Access-Control-Expose-Headers':
    'Content-Length, Content-Range, ETag, X-Repo-Commit, X-Linked-Etag, X-Linked-Size, X-Error-Code, X-Error-Message, Location',
};

export async function startHubServer(options: HubServerOptions = {}): Promise<HubServer> {
  const maxBody = options.maxBodyBytes ?? 256 * 1024 * 1024;
  const pageSize = options.treePageSize ?? 1000;
  const secret = randomBytes(16).toString('hex');
  const sign = (what: string) => createHmac('sha256', secret).update(what).digest('hex').slice(0, 32);
  let base = '';
  let cdnBase = '';
  let throttling = options.throttle;
  let linkFreeAt = 0;
  let commitCounter = 0;

  const repos = new Map<string, Repo>();
  /** sha256 → content, what the "CDN" serves. */
  const blobs = new Map<string, StoredFile>();
  const multipartParts = new Map<string, Map<number, Buffer>>();
  const received: HubServerReceived = {
    requests: [],
    createdRepos: [],
    createdBranches: [],
    preuploads: [],
    lfsBatches: [],
    lfsObjects: new Map(),
    commits: [],
  };

  function makeCommit(repo: Repo, files: Map<string, StoredFile>, title: string): Commit {
    const listing = [...files.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([p, f]) => `${p}:${f.gitOid}`);
    const oid = sha1(`${repo.id}\n${++commitCounter}\n${title}\n${listing.join('\n')}`);
    const commit: Commit = { oid, title, date: new Date().toISOString(), files };
    repo.commits.set(oid, commit);
    for (const f of files.values()) if (f.lfs) blobs.set(f.sha256, f);
    return commit;
  }

  for (const [id, spec] of Object.entries(options.repos ?? {})) {
    const repo: Repo = { id, private: spec.private ?? false, createdAt: new Date().toISOString(), branches: new Map(), commits: new Map() };
    const files = new Map<string, StoredFile>();
    for (const [path, source] of Object.entries(spec.files)) {
      files.set(path, typeof source === 'string' ? await storedFromPath(path, source) : storedFromBytes(path, Buffer.from(source)));
    }
    const commit = makeCommit(repo, files, 'Initial commit');
    repo.branches.set(spec.revision ?? 'main', commit.oid);
    repos.set(id, repo);
  }

  const authOf = (req: IncomingMessage): AuthState => {
    const header = req.headers.authorization;
    if (!header) return 'none';
    return options.token !== undefined && header === `Bearer ${options.token}` ? 'valid' : 'invalid';
  };

  const requireWrite = (req: IncomingMessage) => {
    if (options.token !== undefined && authOf(req) !== 'valid') {
      throw new HttpError(401, 'Invalid credentials in Authorization header');
    }
  };

  /** The real hub answers 401 for a private repo without access and 404 for one that does not exist. */
  const repoFor = (req: IncomingMessage, id: string): Repo => {
    const repo = repos.get(id);
    if (!repo) throw new HttpError(404, 'Repository not found', 'RepoNotFound');
    if (repo.private && authOf(req) !== 'valid') throw new HttpError(401, 'Repository not found', 'RepoNotFound');
    return repo;
  };

  const commitFor = (repo: Repo, rev: string): Commit => {
    const oid = repo.branches.get(rev) ?? (repo.commits.has(rev) ? rev : undefined);
    if (!oid) throw new HttpError(404, `Invalid rev id: ${rev}`, 'RevisionNotFound');
    return repo.commits.get(oid)!;
  };

  async function readBody(req: IncomingMessage): Promise<Buffer> {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > maxBody) throw new HttpError(413, 'Request body too large');
    const chunks: Buffer[] = [];
    let total = 0;
    for await (const chunk of req) {
      total += (chunk as Buffer).length;
      if (total > maxBody) throw new HttpError(413, 'Request body too large');
      chunks.push(chunk as Buffer);
    }
    return Buffer.concat(chunks);
  }

  async function readJson(req: IncomingMessage): Promise<any> {
    const body = await readBody(req);
    try {
      return JSON.parse(body.toString('utf8'));
    } catch {
      throw new HttpError(400, 'Malformed JSON body');
    }
  }

  function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
    const text = JSON.stringify(body);
    res.writeHead(status, { ...CORS_HEADERS, 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text), ...headers });
    res.end(text);
  }

  function sendContent(req: IncomingMessage, res: ServerResponse, file: StoredFile, headers: Record<string, string>) {
    const range = parseRange(req.headers.range, file.size);
    if (range === 'unsatisfiable') {
      res.writeHead(416, { ...CORS_HEADERS, ...headers, 'Content-Range': `bytes */${file.size}` });
      res.end();
      return;
    }
    const start = range?.start ?? 0;
    const end = range?.end ?? file.size - 1;
    const length = file.size === 0 ? 0 : end - start + 1;
    res.writeHead(range ? 206 : 200, {
      ...CORS_HEADERS,
      ...headers,
      'Accept-Ranges': 'bytes',
      'Content-Length': length,
      ...(range && { 'Content-Range': `bytes ${start}-${end}/${file.size}` }),
    });
    if (req.method === 'HEAD' || length === 0) {
      res.end();
      return;
    }
    const throttle = throttling;
    if (!throttle && file.source.kind === 'bytes') {
      res.end(file.source.bytes.subarray(start, end + 1));
      return;
    }
    const chunkBytes = throttle?.chunkBytes ?? 64 * 1024;
    const stream =
      file.source.kind === 'bytes'
        ? Readable.from([file.source.bytes.subarray(start, end + 1)])
        : createReadStream(file.source.path, { start, end, ...(throttle && { highWaterMark: chunkBytes }) });
    stream.on('error', (err: Error) => res.destroy(err));
    if (!throttle) {
      stream.pipe(res);
      return;
    }
    const slow = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        let at = 0;
        const next = () => {
          if (at >= chunk.length) return done();
          const piece = chunk.subarray(at, at + chunkBytes);
          at += piece.length;
          // The link is shared: each piece waits for its slot after every piece sent before it, on any response.
          const now = performance.now();
          linkFreeAt = Math.max(linkFreeAt, now) + (piece.length / throttle.bytesPerSecond) * 1000;
          setTimeout(() => {
            this.push(piece);
            next();
          }, Math.max(0, linkFreeAt - now));
        };
        next();
      },
    });
    res.on('close', () => stream.destroy());
    stream.pipe(slow).pipe(res);
  }

  function resolveFile(req: IncomingMessage, res: ServerResponse, repoId: string, rev: string, path: string) {
    const repo = repoFor(req, repoId);
    const commit = commitFor(repo, rev);
    const file = commit.files.get(path);
    if (!file) throw new HttpError(404, 'Entry not found', 'EntryNotFound');
    const common = { 'X-Repo-Commit': commit.oid, 'Content-Type': contentType(path) };
    if (file.lfs) {
      const location = `${cdnBase}/_cdn/${file.sha256}?sig=${sign(`cdn:${file.sha256}`)}`;
      res.writeHead(302, {
        ...CORS_HEADERS,
        ...common,
        Location: location,
        ETag: `"${file.gitOid}"`,
        'X-Linked-Etag': `"${file.sha256}"`,
        'X-Linked-Size': String(file.size),
        'Content-Type': 'text/plain; charset=utf-8',
      });
      res.end(req.method === 'HEAD' ? undefined : `Found. Redirecting to ${location}`);
      return;
    }
    sendContent(req, res, file, { ...common, ETag: `"${file.gitOid}"` });
  }

  function treeEntry(path: string, file: StoredFile) {
    return {
      type: 'file' as const,
      oid: file.gitOid,
      size: file.size,
      path,
      ...(file.lfs && { lfs: { oid: file.sha256, size: file.size, pointerSize: lfsPointer(file.sha256, file.size).length } }),
    };
  }

  function listTree(commit: Commit, dir: string, recursive: boolean) {
    const prefix = dir === '' ? '' : `${dir}/`;
    const entries = new Map<string, ReturnType<typeof treeEntry> | { type: 'directory'; oid: string; size: 0; path: string }>();
    for (const [path, file] of commit.files) {
      if (!path.startsWith(prefix)) continue;
      const parts = path.slice(prefix.length).split('/');
      // Directories on the way down are entries of their own, as in the hub's answer.
      for (let i = 1; i < parts.length; i++) {
        if (!recursive && i > 1) break;
        const dirPath = prefix + parts.slice(0, i).join('/');
        if (!entries.has(dirPath)) entries.set(dirPath, { type: 'directory', oid: sha1(`tree:${dirPath}`), size: 0, path: dirPath });
      }
      if (recursive || parts.length === 1) entries.set(path, treeEntry(path, file));
    }
    if (dir !== '' && entries.size === 0) throw new HttpError(404, `${dir} does not exist`, 'EntryNotFound');
    return [...entries.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }

  function modelInfo(repo: Repo, commit: Commit) {
    return {
      _id: sha1(`id:${repo.id}`).slice(0, 24),
      id: repo.id,
      modelId: repo.id,
      author: repo.id.split('/')[0],
      sha: commit.oid,
      private: repo.private,
      gated: false,
      disabled: false,
      downloads: 0,
      likes: 0,
      tags: [],
      lastModified: commit.date,
      createdAt: repo.createdAt,
      siblings: [...commit.files.keys()].sort().map((rfilename) => ({ rfilename })),
    };
  }

  async function handleCommit(req: IncomingMessage, res: ServerResponse, repoId: string, rev: string) {
    requireWrite(req);
    const repo = repoFor(req, repoId);
    const parent = commitFor(repo, rev);
    if (!repo.branches.has(rev)) throw new HttpError(400, `Cannot commit to ${rev}: not a branch`, 'RevisionNotFound');
    const lines = (await readBody(req)).toString('utf8').split('\n').filter((l) => l.trim() !== '');
    const files = new Map(parent.files);
    const record: ReceivedCommit = { repo: repoId, revision: rev, oid: '', summary: '', files: [], lfsFiles: [], deletedFiles: [] };
    for (const line of lines) {
      let op: { key: string; value: any };
      try {
        op = JSON.parse(line);
      } catch {
        throw new HttpError(400, 'Malformed NDJSON line in commit body');
      }
      const v = op.value ?? {};
      if (op.key === 'header') {
        record.summary = String(v.summary ?? '');
        if (v.description) record.description = String(v.description);
        if (v.parentCommit && v.parentCommit !== parent.oid) throw new HttpError(412, 'A commit has happened since parentCommit');
      } else if (op.key === 'file') {
        if (typeof v.path !== 'string' || typeof v.content !== 'string') throw new HttpError(400, 'file operation needs path and content');
        const content = Buffer.from(v.content, v.encoding === 'base64' ? 'base64' : 'utf8');
        record.files.push({ path: v.path, content });
        files.set(v.path, storedFromBytes(v.path, content, false));
      } else if (op.key === 'lfsFile') {
        const bytes = received.lfsObjects.get(v.oid);
        const known = bytes ? storedFromBytes(v.path, bytes, true) : blobs.get(v.oid);
        if (!known || (v.size !== undefined && v.size !== known.size)) {
          throw new HttpError(422, `Your push was rejected because an LFS pointer pointed to a file that does not exist: ${v.path}`);
        }
        record.lfsFiles.push({ path: v.path, oid: v.oid, size: known.size });
        files.set(v.path, known);
      } else if (op.key === 'deletedFile') {
        record.deletedFiles.push(v.path);
        files.delete(v.path);
      } else {
        throw new HttpError(400, `Unknown commit operation ${op.key}`);
      }
    }
    const commit = makeCommit(repo, files, record.summary);
    repo.branches.set(rev, commit.oid);
    record.oid = commit.oid;
    received.commits.push(record);
    sendJson(res, 200, { success: true, commitOid: commit.oid, commitUrl: `${base}/${repoId}/commit/${commit.oid}`, hookOutput: '' });
  }

  async function handleLfsBatch(req: IncomingMessage, res: ServerResponse, repoId: string) {
    requireWrite(req);
    repoFor(req, repoId);
    const body = await readJson(req);
    if (body.operation !== 'upload') throw new HttpError(400, 'Only upload batches are supported');
    const transfers: string[] = Array.isArray(body.transfers) ? body.transfers : ['basic'];
    const chunk = options.lfsMultipartChunkSize;
    const transfer = chunk && transfers.includes('multipart') ? 'multipart' : 'basic';
    const objects = (body.objects ?? []) as { oid: string; size: number }[];
    received.lfsBatches.push({ repo: repoId, transfers, transfer, objects });
    const answer = objects.map(({ oid, size }) => {
      if (!/^[0-9a-f]{64}$/.test(oid)) return { oid, size, error: { code: 422, message: 'Invalid oid' } };
      if (received.lfsObjects.has(oid) || blobs.has(oid)) return { oid, size };
      const sig = sign(`lfs:${oid}:${size}`);
      if (transfer === 'multipart' && chunk && size > chunk) {
        const header: Record<string, string> = { chunk_size: String(chunk) };
        const parts = Math.ceil(size / chunk);
        for (let p = 1; p <= parts; p++) header[String(p).padStart(5, '0')] = `${base}/_lfs/part/${oid}/${p}?size=${size}&sig=${sig}`;
        return { oid, size, authenticated: true, actions: { upload: { href: `${base}/_lfs/complete/${oid}?size=${size}&sig=${sig}`, header } } };
      }
      return { oid, size, authenticated: true, actions: { upload: { href: `${base}/_lfs/upload/${oid}?size=${size}&sig=${sig}` } } };
    });
    sendJson(res, 200, { transfer, objects: answer }, { 'Content-Type': 'application/vnd.git-lfs+json' });
  }

  function checkLfsSignature(url: URL, oid: string): number {
    const size = Number(url.searchParams.get('size'));
    if (url.searchParams.get('sig') !== sign(`lfs:${oid}:${size}`)) throw new HttpError(403, 'Bad or missing upload signature');
    return size;
  }

  function storeLfsObject(oid: string, size: number, bytes: Buffer) {
    if (bytes.length !== size) throw new HttpError(400, `Size mismatch: expected ${size}, got ${bytes.length}`);
    if (sha256Hex(bytes) !== oid) throw new HttpError(400, 'sha256 of the uploaded content does not match the oid');
    received.lfsObjects.set(oid, bytes);
  }

  async function route(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? '/', base);
    const seg = url.pathname.split('/').slice(1).map((s) => decodeURIComponent(s));
    const method = req.method ?? 'GET';
    const readMethod = method === 'GET' || method === 'HEAD';

    if (method === 'OPTIONS') {
      res.writeHead(204, {
        ...CORS_HEADERS,
        'Access-Control-Allow-Methods': 'GET, HEAD, POST, PUT, OPTIONS',
        'Access-Control-Allow-Headers': 'Authorization, Range, Content-Type, Accept',
      });
      res.end();
      return;
    }

    if (seg[0] === 'api') {
      if (seg[1] === 'repos' && seg[2] === 'create' && method === 'POST') {
        requireWrite(req);
        const body = await readJson(req);
        const owner = body.organization;
        if (!owner || !body.name) throw new HttpError(400, 'organization and name are required');
        if ((body.type ?? 'model') !== 'model') throw new HttpError(400, 'Only model repos are supported here');
        const id = `${owner}/${body.name}`;
        received.createdRepos.push({ repo: id, visibility: body.visibility });
        if (repos.has(id)) {
          sendJson(res, 409, { error: 'You already created this model repo', url: `${base}/${id}` });
          return;
        }
        const repo: Repo = { id, private: body.visibility === 'private' || body.private === true, createdAt: new Date().toISOString(), branches: new Map(), commits: new Map() };
        repo.branches.set('main', makeCommit(repo, new Map(), 'initial commit').oid);
        repos.set(id, repo);
        sendJson(res, 200, { url: `${base}/${id}`, name: id, id: sha1(`id:${id}`).slice(0, 24) });
        return;
      }
      if (seg[1] === 'models' && seg.length >= 4) {
        const repoId = `${seg[2]}/${seg[3]}`;
        const action = seg[4];
        const rev = seg[5];
        if (action === undefined && readMethod) {
          const repo = repoFor(req, repoId);
          sendJson(res, 200, modelInfo(repo, commitFor(repo, 'main')));
          return;
        }
        if (action === 'revision' && rev !== undefined && readMethod) {
          const repo = repoFor(req, repoId);
          sendJson(res, 200, modelInfo(repo, commitFor(repo, rev)));
          return;
        }
        if (action === 'tree' && rev !== undefined && readMethod) {
          const repo = repoFor(req, repoId);
          const commit = commitFor(repo, rev);
          const dir = seg.slice(6).join('/');
          const all = listTree(commit, dir, url.searchParams.get('recursive') === 'true' || url.searchParams.get('recursive') === '1');
          const offset = Number(url.searchParams.get('cursor') ?? 0);
          const page = all.slice(offset, offset + pageSize);
          const headers: Record<string, string> = {};
          if (offset + pageSize < all.length) {
            const next = new URL(url);
            next.searchParams.set('cursor', String(offset + pageSize));
            headers.Link = `<${next.href}>; rel="next"`;
          }
          sendJson(res, 200, page, headers);
          return;
        }
        if (action === 'paths-info' && rev !== undefined && method === 'POST') {
          const repo = repoFor(req, repoId);
          const commit = commitFor(repo, rev);
          const body = await readJson(req);
          const paths: string[] = Array.isArray(body.paths) ? body.paths : [];
          const out = paths.flatMap((p) => {
            const file = commit.files.get(p);
            if (file) return [{ ...treeEntry(p, file), lastCommit: { id: commit.oid, title: commit.title, date: commit.date } }];
            const isDir = [...commit.files.keys()].some((k) => k.startsWith(`${p}/`));
            return isDir ? [{ type: 'directory', oid: sha1(`tree:${p}`), size: 0, path: p }] : [];
          });
          sendJson(res, 200, out);
          return;
        }
        if (action === 'preupload' && rev !== undefined && method === 'POST') {
          requireWrite(req);
          commitFor(repoFor(req, repoId), rev);
          const body = await readJson(req);
          const files = ((body.files ?? []) as { path: string; size: number; sample: string }[]).map((f) => ({
            path: f.path,
            size: f.size,
            uploadMode: isLfsFile(f.path, f.size, Buffer.from(f.sample ?? '', 'base64')) ? ('lfs' as const) : ('regular' as const),
          }));
          received.preuploads.push({ repo: repoId, revision: rev, files });
          sendJson(res, 200, { files: files.map((f) => ({ path: f.path, uploadMode: f.uploadMode, shouldIgnore: false })) });
          return;
        }
        if (action === 'commit' && rev !== undefined && method === 'POST') {
          await handleCommit(req, res, repoId, rev);
          return;
        }
        if (action === 'branch' && rev !== undefined && method === 'POST') {
          requireWrite(req);
          const repo = repoFor(req, repoId);
          const body = await readJson(req);
          if (repo.branches.has(rev) && !body.overwrite) {
            sendJson(res, 409, { error: `Reference already exists: refs/heads/${rev}` });
            return;
          }
          const from = body.emptyBranch ? makeCommit(repo, new Map(), 'empty branch') : commitFor(repo, body.startingPoint ?? 'main');
          repo.branches.set(rev, from.oid);
          received.createdBranches.push({ repo: repoId, branch: rev });
          sendJson(res, 200, {});
          return;
        }
      }
      throw new HttpError(404, `Not found: ${method} ${url.pathname}`);
    }

    if (options.resolveOnly && seg[0] === 'api') throw new HttpError(404, `Not found: ${method} ${url.pathname} (this hub serves resolve URLs only)`);

    if (seg[0] === '_cdn' && seg.length === 2 && readMethod) {
      const file = blobs.get(seg[1]);
      if (!file || url.searchParams.get('sig') !== sign(`cdn:${seg[1]}`)) throw new HttpError(403, 'Access denied');
      const headers: Record<string, string> = { ETag: `"${file.sha256}"`, 'Content-Type': 'application/octet-stream' };
      if (options.cdnCacheHeader) headers['X-Cache'] = 'Hit from cloudfront';
      if (options.overrun && file.source.kind === 'path' && file.source.path === options.overrun.path && req.method === 'GET' && !req.headers.range) {
        res.writeHead(200, { ...CORS_HEADERS, ...headers });
        const chunk = Buffer.alloc(64 * 1024, 7);
        let left = file.size + options.overrun.bytes;
        const pump = () => {
          while (left > 0 && !res.destroyed) {
            const piece = chunk.subarray(0, Math.min(chunk.length, left));
            left -= piece.length;
            if (!res.write(piece)) return void res.once('drain', pump);
          }
          res.end();
        };
        pump();
        return;
      }
      sendContent(req, res, file, headers);
      return;
    }

    if (seg[0] === '_lfs') {
      const oid = seg[2];
      if (seg[1] === 'upload' && method === 'PUT' && seg.length === 3) {
        const size = checkLfsSignature(url, oid);
        storeLfsObject(oid, size, await readBody(req));
        res.writeHead(200, CORS_HEADERS);
        res.end();
        return;
      }
      if (seg[1] === 'part' && method === 'PUT' && seg.length === 4) {
        checkLfsSignature(url, oid);
        const part = await readBody(req);
        const parts = multipartParts.get(oid) ?? new Map<number, Buffer>();
        parts.set(Number(seg[3]), part);
        multipartParts.set(oid, parts);
        res.writeHead(200, { ...CORS_HEADERS, ETag: `"${createHash('md5').update(part).digest('hex')}"` });
        res.end();
        return;
      }
      if (seg[1] === 'complete' && method === 'POST' && seg.length === 3) {
        const size = checkLfsSignature(url, oid);
        const body = await readJson(req);
        const parts = multipartParts.get(oid);
        const listed = ((body.parts ?? []) as { partNumber: number; etag: string }[]).sort((a, b) => a.partNumber - b.partNumber);
        if (!parts || listed.length !== parts.size) throw new HttpError(400, 'Multipart completion lists the wrong parts');
        const ordered = listed.map(({ partNumber, etag }) => {
          const part = parts.get(partNumber);
          if (!part || etag !== `"${createHash('md5').update(part).digest('hex')}"`) throw new HttpError(400, `Part ${partNumber} is missing or its ETag differs`);
          return part;
        });
        storeLfsObject(oid, size, Buffer.concat(ordered));
        multipartParts.delete(oid);
        sendJson(res, 200, {});
        return;
      }
      throw new HttpError(404, 'Not found');
    }

    // /{owner}/{name}.git/info/lfs/objects/batch
    if (seg.length === 6 && seg[1].endsWith('.git') && seg.slice(2).join('/') === 'info/lfs/objects/batch' && method === 'POST') {
      await handleLfsBatch(req, res, `${seg[0]}/${seg[1].slice(0, -'.git'.length)}`);
      return;
    }

    // /{owner}/{name}/resolve/{rev}/{path...}
    if (seg.length >= 5 && seg[2] === 'resolve' && readMethod) {
      resolveFile(req, res, `${seg[0]}/${seg[1]}`, seg[3], seg.slice(4).join('/'));
      return;
    }

    throw new HttpError(404, `Not found: ${method} ${url.pathname}`);
  }

  const handler = (origin: 'hub' | 'cdn') => (req: IncomingMessage, res: ServerResponse) => {
    const record: ReceivedRequest = { origin, method: req.method ?? 'GET', url: req.url ?? '/', auth: authOf(req) };
    if (req.headers.range) record.range = req.headers.range;
    received.requests.push(record);
    res.on('finish', () => (record.status = res.statusCode));
    route(req, res).catch((err: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      const status = err instanceof HttpError ? err.status : 500;
      const message = err instanceof Error ? err.message : String(err);
      const headers: Record<string, string> = { 'X-Error-Message': message };
      if (err instanceof HttpError && err.errorCode) headers['X-Error-Code'] = err.errorCode;
      // Drain what the client still sends so it reads our answer instead of a reset.
      req.resume();
      if (req.method === 'HEAD') {
        res.writeHead(status, { ...CORS_HEADERS, ...headers });
        res.end();
      } else {
        sendJson(res, status, { error: message }, headers);
      }
    });
  };
  const listen = async (origin: 'hub' | 'cdn') => {
    const server = createServer(handler(origin));
    server.requestTimeout = 60_000;
    server.headersTimeout = 30_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    return server;
  };
  const server = await listen('hub');
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const cdnServer = options.separateCdn ? await listen('cdn') : undefined;
  cdnBase = cdnServer ? `http://127.0.0.1:${(cdnServer.address() as AddressInfo).port}` : base;

  const filesOf = (repo: string, revision: string) => {
    const r = repos.get(repo);
    const oid = r?.branches.get(revision) ?? (r?.commits.has(revision) ? revision : undefined);
    return oid ? r!.commits.get(oid)!.files : undefined;
  };

  return {
    url: base,
    received,
    async fileAt(repo, path, revision = 'main') {
      const file = filesOf(repo, revision)?.get(path);
      if (!file) return undefined;
      if (file.source.kind === 'bytes') return file.source.bytes;
      const chunks: Buffer[] = [];
      for await (const chunk of createReadStream(file.source.path)) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks);
    },
    filesAt(repo, revision = 'main') {
      return [...(filesOf(repo, revision)?.keys() ?? [])].sort();
    },
    commitOf(repo, revision = 'main') {
      return repos.get(repo)?.branches.get(revision);
    },
    async setFiles(id, revision, files) {
      let repo = repos.get(id);
      if (!repo) {
        repo = { id, private: false, createdAt: new Date().toISOString(), branches: new Map(), commits: new Map() };
        repos.set(id, repo);
      }
      const stored = new Map<string, StoredFile>();
      for (const [path, source] of Object.entries(files)) {
        stored.set(path, typeof source === 'string' ? await storedFromPath(path, source) : storedFromBytes(path, Buffer.from(source)));
      }
      const commit = makeCommit(repo, stored, `Set ${revision}`);
      repo.branches.set(revision, commit.oid);
      return commit.oid;
    },
    cdnUrl: cdnBase,
    setThrottle(throttle) {
      throttling = throttle;
    },
    async close() {
      const stop = (s: typeof server) =>
        new Promise<void>((resolve, reject) => {
          s.close((err) => (err ? reject(err) : resolve()));
          s.closeAllConnections();
        });
      await Promise.all([stop(server), ...(cdnServer ? [stop(cdnServer)] : [])]);
    },
  };
}
