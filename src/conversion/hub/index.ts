export { downloadCheckpoint, defaultCacheDir, type DownloadCheckpointOptions } from './download.js';
export { publishModel, type PublishModelOptions, type PublishResult, type PublishedFile } from './publish.js';
export { formatBytes } from '../../utils/format_bytes.js';
export { buildModelCard, listOnnxVariants, type ModelCardOptions, type AccuracyReport, type OnnxVariant } from './model_card.js';
export { DEFAULT_HUB_URL, resolveHubUrl, resolveToken } from './endpoint.js';
export type { HubProgressEvent, HubProgressCallback } from './progress.js';
