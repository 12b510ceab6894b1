/**
 * transformers-seggpt in Node: everything of the runtime-neutral entry (index.ts), plus local checkpoint folders
 * converted on first use into the cache, and the bundled demo model.
 */
import { demoModelFolder } from './loading/node/demo_model.js';
import { nodePlatform } from './loading/node/node_platform.js';
import { setNodePlatform } from './loading/platform.js';

export * from './index.js';

setNodePlatform(nodePlatform);

/**
 * The bundled 4 M-parameter demo checkpoint (a Hugging Face SegGPT checkpoint trained on a toy shapes task, not
 * BAAI/seggpt-vit-large): `pipeline('image-segmentation', SEGGPT_DEMO_MODEL)` converts it on first use, offline.
 */
export const SEGGPT_DEMO_MODEL: string = demoModelFolder();
