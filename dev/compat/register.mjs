// Preloaded with `node --import` (through NODE_OPTIONS, so every child `node` a test spawns inherits it): sends the bare
// specifiers of Transformers.js and onnxruntime to the copy under SEGGPT_TRANSFORMERS_DIR (.compat/<version>), and refuses
// to load the repository's own node_modules copies, so a test can never pass against the wrong version by accident.
import { register } from 'node:module';

if (process.env.SEGGPT_TRANSFORMERS_DIR) register('./resolve_hook.mjs', import.meta.url);
