import { env, LogLevel } from '@huggingface/transformers';

/** Receives a warning of a SegGPT call that still gives an answer (a likely mistake, not a failure). */
export type SegGPTWarningHandler = (message: string) => void;

/** Prints like Transformers.js' own warnings: through console.warn, unless env.logLevel is above WARNING. */
export const libraryWarning: SegGPTWarningHandler = (message) => {
  const level = (env as { logLevel?: number }).logLevel ?? LogLevel.WARNING;
  if (level <= LogLevel.WARNING) console.warn(message);
};
