// Runs before each compat test file: the library the tests (and src/) import is the version under test.
import { env } from '@huggingface/transformers';

const want = process.env.SEGGPT_TRANSFORMERS_VERSION;
if (env.version !== want) throw new Error(`compat: tests import @huggingface/transformers ${env.version}, expected ${want}`);
if (!process.env.NODE_OPTIONS?.includes('dev/compat/register.mjs')) {
  throw new Error('compat: NODE_OPTIONS must --import dev/compat/register.mjs (child processes would load the wrong version)');
}
