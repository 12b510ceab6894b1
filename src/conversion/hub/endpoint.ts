import { HubError, InputError } from '../../errors.js';

export const DEFAULT_HUB_URL = 'https://huggingface.co';

/** `owner/name`, the characters the hub allows in both parts. */
const REPO_ID = /^[A-Za-z0-9][\w.-]*\/[\w.-]+$/;

/** The hub to talk to: the option, else `HF_ENDPOINT`, else huggingface.co (no trailing slash). */
export function resolveHubUrl(hubUrl?: string): string {
  const raw = (hubUrl || process.env.HF_ENDPOINT || DEFAULT_HUB_URL).trim();
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new HubError(`Invalid hub URL "${raw}": pass an http(s) URL to --hub-url / HF_ENDPOINT`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new HubError(`Invalid hub URL "${raw}": pass an http(s) URL to --hub-url / HF_ENDPOINT`);
  }
  return url.href.replace(/\/+$/, '');
}

/** The token: the option, else `HF_TOKEN`; empty strings count as none. */
export function resolveToken(token?: string): string | undefined {
  const value = token ?? process.env.HF_TOKEN;
  return value ? value.trim() || undefined : undefined;
}

export function checkRepoId(repoId: string): void {
  if (!REPO_ID.test(repoId)) {
    throw new InputError(`Invalid repo id "${repoId}": expected "owner/name", e.g. BAAI/seggpt-vit-large`);
  }
}

/** Removes the token (and anything shaped like a hub token) from text that may be shown to a user. */
export function scrubSecrets(text: string, token?: string): string {
  let out = token ? text.split(token).join('***') : text;
  out = out.replace(/\bhf_[A-Za-z0-9]{8,}\b/g, 'hf_***');
  return out;
}
