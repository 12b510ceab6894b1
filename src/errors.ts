/**
 * One error class per failure family. Messages name the file or field at fault and the fix,
 * so the CLI can print `error.message` alone, without a stack trace.
 */
export class SegGPTError extends Error {
  // Names are spelled out (not new.target.name) so they survive minifying bundlers.
  override name = 'SegGPTError';
}

/** A config.json / preprocessor_config.json value that SegGPT cannot use. */
export class SegGPTConfigError extends SegGPTError {
  override name = 'SegGPTConfigError';
}

/** A checkpoint folder, hub repo or safetensors file that is missing, malformed or incomplete. */
export class CheckpointError extends SegGPTError {
  override name = 'CheckpointError';
}

/** Bad call arguments: prompts, masks, sizes, labels, options. */
export class InputError extends SegGPTError {
  override name = 'InputError';
}

/** An unavailable device, dtype or execution provider. */
export class BackendError extends SegGPTError {
  override name = 'BackendError';
}

/** A hub request that failed (network, auth, missing repo or file). */
export class HubError extends SegGPTError {
  override name = 'HubError';
}
