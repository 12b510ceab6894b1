/** Progress of one file moving to or from the hub. `total` is unknown only when the hub did not say. */
export interface HubProgressEvent {
  /** Path inside the repo, e.g. `model.safetensors` or `onnx/model.onnx`. */
  file: string;
  /** Bytes done so far (for uploads: hashed or sent, see `phase`). */
  loaded: number;
  total?: number;
  /** Uploads only: LFS files are hashed before they are sent. */
  phase?: 'hashing' | 'uploading';
}

export type HubProgressCallback = (event: HubProgressEvent) => void;
