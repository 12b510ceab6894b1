/** How Transformers.js' Auto classes resolve one repo folder (see tjs_resolution.mjs). */
export function describeResolution(dir: string): Promise<Record<string, unknown>>;
