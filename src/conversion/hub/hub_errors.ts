import { HubApiError } from '@huggingface/hub';
import { HubError } from '../../errors.js';
import { scrubSecrets } from './endpoint.js';

/** What a failed hub call was about, to turn the failure into a message that names the fix. */
export interface HubCallContext {
  action: 'download' | 'publish';
  repo: string;
  revision: string;
  hubUrl: string;
  token?: string;
  /** The file being fetched, when there is one. */
  file?: string;
}

const MAX_REDIRECTS = 10;
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE']);

/**
 * The `fetch` handed to @huggingface/hub. It sends the token to the configured hub's origin only — whatever URL the
 * library adopts (it reuses a CDN URL that answers `X-Cache: … cloudfront`) and across redirects, which it follows
 * itself for GET and HEAD so that no Authorization header ever leaves for another origin. It also remembers what the
 * library's errors drop: the hub's `X-Error-Code` per URL (HubApiError keeps only the status) and the last transport
 * failure (a failing blob stream reports it as a bare string).
 */
export class HubFetch {
  private readonly codes = new Map<string, string>();
  private readonly hubOrigin: string;
  lastNetworkError: unknown;
  /** The last non-2xx answer, for errors that arrive as bare strings. */
  lastFailure: { url: string; status: number } | undefined;

  constructor(hubUrl: string) {
    this.hubOrigin = new URL(hubUrl).origin;
  }

  readonly fetch: typeof fetch = async (input, init) => {
    try {
      const res = await this.send(input, init);
      if (!res.ok) this.lastFailure = { url: res.url, status: res.status };
      const code = res.headers.get('x-error-code');
      if (code) {
        this.codes.set(res.url, code);
        this.codes.set(input instanceof Request ? input.url : String(input), code);
      }
      return res;
    } catch (err) {
      this.lastNetworkError = err;
      throw err;
    }
  };

  private foreign(url: string): boolean {
    return new URL(url).origin !== this.hubOrigin;
  }

  private async send(input: Parameters<typeof fetch>[0], init: RequestInit | undefined): Promise<Response> {
    const request = input instanceof Request ? input : undefined;
    let url = request ? request.url : input instanceof URL ? input.href : String(input);
    const method = (init?.method ?? request?.method ?? 'GET').toUpperCase();
    const headers = new Headers(init?.headers ?? request?.headers);
    if (method !== 'GET' && method !== 'HEAD') {
      // Uploads keep the library's own request; only the token is held back from other origins.
      if (!this.foreign(url) || !headers.has('authorization')) return fetch(input, init);
      headers.delete('authorization');
      return fetch(request ? new Request(request, { ...init, headers }) : url, { ...init, headers });
    }
    for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
      const sent = new Headers(headers);
      if (this.foreign(url)) sent.delete('authorization');
      const res = await fetch(url, { ...init, method, headers: sent, redirect: 'manual', signal: init?.signal ?? request?.signal });
      const location = res.headers.get('location');
      if (res.status >= 300 && res.status < 400 && location) {
        await res.body?.cancel().catch(() => undefined);
        url = new URL(location, url).href;
        continue;
      }
      return res;
    }
    throw new TypeError(`more than ${MAX_REDIRECTS} redirects from ${request?.url ?? String(input)}`);
  }

  errorCodeFor(url: string): string | undefined {
    return this.codes.get(url);
  }
}

function networkCode(err: unknown): string | undefined {
  let e: any = err;
  for (let depth = 0; e && depth < 4; depth++) {
    if (typeof e.code === 'string' && (NETWORK_CODES.has(e.code) || e.code.startsWith('UND_ERR'))) return e.code;
    if (Array.isArray(e.errors) && e.errors[0]?.code) return String(e.errors[0].code);
    e = e.cause;
  }
  if (err instanceof TypeError && (err.message === 'fetch failed' || err.message === 'terminated')) return err.message;
  return undefined;
}

/** Codes of a connection that was open and broke (as opposed to one that never opened). */
const DROPPED = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'terminated', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED']);

function isDroppedConnection(code: string): boolean {
  return DROPPED.has(code);
}

const oneLine = (text: string) => text.replace(/\s+/g, ' ').trim();

function tokenHint(ctx: HubCallContext, access: 'read' | 'write'): string {
  return ctx.token
    ? `check that the token has ${access} access to it (--token / HF_TOKEN)`
    : `pass a token with ${access} access (--token or HF_TOKEN)`;
}

function hubErrorMessage(err: unknown, ctx: HubCallContext, tracker?: HubFetch): string {
  const unreachable = (code: string) =>
    isDroppedConnection(code)
      ? `The connection to the hub at ${ctx.hubUrl} dropped during the ${ctx.action} of "${ctx.repo}" (${code}): run it again; ` +
        'nothing incomplete was kept'
      : `Cannot reach the hub at ${ctx.hubUrl} (${code}): check --hub-url / HF_ENDPOINT and your network connection`;

  const code = networkCode(err);
  if (code) return unreachable(code);
  if (typeof err === 'string' && tracker?.lastNetworkError) return unreachable(networkCode(tracker.lastNetworkError) ?? oneLine(err));
  if (typeof err === 'string' && tracker?.lastFailure) {
    // A blob stream that failed on an HTTP error reports only its message: rebuild the error.
    const { url, status } = tracker.lastFailure;
    return hubErrorMessage(Object.assign(new HubApiError(url, status), { message: err }), ctx, tracker);
  }

  if (err instanceof HubApiError) {
    const hubCode = tracker?.errorCodeFor(err.url);
    const status = err.statusCode;
    if (hubCode === 'RevisionNotFound') return `Revision "${ctx.revision}" does not exist in "${ctx.repo}" on ${ctx.hubUrl}: check --revision`;
    if (hubCode === 'GatedRepo') {
      return `"${ctx.repo}" is gated: accept its conditions at ${ctx.hubUrl}/${ctx.repo} and ${tokenHint(ctx, 'read')}`;
    }
    if (ctx.action === 'publish') {
      if (status === 401 || status === 403 || hubCode === 'RepoNotFound') {
        return `The hub refused to publish to "${ctx.repo}" (${status}): ${tokenHint(ctx, 'write')}`;
      }
      return `Publishing to "${ctx.repo}" failed (${status}: ${oneLine(err.message)}): check the repo id and retry`;
    }
    if (hubCode === 'EntryNotFound') {
      return `"${ctx.repo}" has no ${ctx.file ?? 'such file'}: not a SegGPT checkpoint (expected config.json, preprocessor_config.json and model.safetensors)`;
    }
    if (hubCode === 'RepoNotFound' || status === 401 || status === 403 || status === 404) {
      return `Repository "${ctx.repo}" was not found on ${ctx.hubUrl}: check the id; if it is private or gated, ${tokenHint(ctx, 'read')}`;
    }
    return `Downloading "${ctx.repo}"${ctx.file ? ` (${ctx.file})` : ''} failed (${status}: ${oneLine(err.message)}): retry, or check --hub-url`;
  }

  const message = err instanceof Error ? err.message : String(err);
  if (/access token must start with 'hf_'/.test(message)) return 'The hub token must start with "hf_": check --token / HF_TOKEN';
  return `Hub ${ctx.action} of "${ctx.repo}" failed: ${oneLine(message)}`;
}

/** Maps any failure of a hub call to a one-line HubError that names the fix and never shows the token. */
export function toHubError(err: unknown, ctx: HubCallContext, tracker?: HubFetch): HubError {
  if (err instanceof HubError) return err;
  const message = scrubSecrets(hubErrorMessage(err, ctx, tracker), ctx.token);
  // The cause is rebuilt from scrubbed text so a --debug dump cannot leak the token either.
  const cause =
    err instanceof Error ? Object.assign(new Error(scrubSecrets(err.message, ctx.token)), { name: err.name }) : undefined;
  return new HubError(message, cause ? { cause } : undefined);
}
