// Node resolve hook for the compatibility matrix (registered by register.mjs). See run.mjs.
import { resolve as resolvePath } from 'node:path';
import { pathToFileURL } from 'node:url';

const DIR = resolvePath(process.env.SEGGPT_TRANSFORMERS_DIR);
const ROOT = resolvePath(process.env.SEGGPT_COMPAT_ROOT ?? process.cwd());
const COMPAT_URL = pathToFileURL(DIR).href + '/';
// Bare imports of these resolve as if made from the version folder itself.
const PARENT_URL = pathToFileURL(resolvePath(DIR, 'package.json')).href;
export const REDIRECTED = ['@huggingface/transformers', 'onnxruntime-node', 'onnxruntime-common', 'onnxruntime-web'];
const FORBIDDEN = REDIRECTED.map((name) => pathToFileURL(resolvePath(ROOT, 'node_modules', name)).href + '/');

export async function resolve(specifier, context, nextResolve) {
  const redirected = REDIRECTED.some((name) => specifier === name || specifier.startsWith(`${name}/`));
  const fromCompat = context.parentURL?.startsWith(COMPAT_URL);
  const result = await nextResolve(specifier, redirected && !fromCompat ? { ...context, parentURL: PARENT_URL } : context);
  const wrong = FORBIDDEN.find((prefix) => result.url.startsWith(prefix));
  if (wrong) {
    throw new Error(
      `compat: ${result.url} (imported as ${specifier} from ${context.parentURL}) is the repository's own copy, ` +
        `not the one under ${DIR}; the alias/hook missed an import`,
    );
  }
  return result;
}
