/**
 * Frame sources of the demo's video mode: image files in name order, a video file sampled at a frame rate, or the
 * webcam. Each yields RGB pixel buffers one at a time, when the segmenter asks for the next frame.
 */
import { bitmapToRGB, context2d, decodeImage, makeCanvas } from './image_io.js';
import type { PixelBuffer } from './seggpt.js';

/** A frame for the worker, and the same frame as a bitmap for drawing the overlay. */
export interface VideoFrame {
  pixels: PixelBuffer;
  bitmap: ImageBitmap;
}

export interface FrameSource {
  /** What the status line calls it. */
  label: string;
  frames(): AsyncIterable<VideoFrame>;
  /** The first frame, for painting the prompt mask on it. */
  first(): Promise<ImageBitmap>;
  close(): void;
}

async function frameOf(bitmap: ImageBitmap): Promise<VideoFrame> {
  return { pixels: bitmapToRGB(bitmap), bitmap };
}

/** Image files or URLs, in the order given (files chosen in a dialog are sorted by name). */
export function imageSequence(items: readonly (Blob | string)[], label = `${items.length} images`): FrameSource {
  return {
    label,
    async *frames() {
      for (const item of items) yield frameOf(await decodeImage(item));
    },
    first: () => decodeImage(items[0]),
    close() {},
  };
}

export function sortedFiles(files: FileList | readonly File[]): File[] {
  return [...files].sort((a, b) => a.name.localeCompare(b.name, undefined, { numeric: true }));
}

function grab(video: HTMLVideoElement): Promise<ImageBitmap> {
  const canvas = makeCanvas(video.videoWidth, video.videoHeight);
  context2d(canvas).drawImage(video, 0, 0);
  return createImageBitmap(canvas);
}

function once(target: EventTarget, event: string): Promise<void> {
  return new Promise((resolve, reject) => {
    target.addEventListener(event, () => resolve(), { once: true });
    target.addEventListener('error', () => reject(new Error(`the video could not be read (${event})`)), { once: true });
  });
}

/** A video file, sampled every 1/fps seconds by seeking (the file is decoded by the browser). */
export function videoFile(file: Blob, fps: number): FrameSource {
  const video = document.createElement('video');
  video.muted = true;
  video.preload = 'auto';
  const url = URL.createObjectURL(file);
  const ready = (async () => {
    video.src = url;
    await once(video, 'loadeddata');
  })();
  const seek = async (time: number) => {
    video.currentTime = time;
    await once(video, 'seeked');
    return grab(video);
  };
  return {
    label: `video at ${fps} frames/s`,
    async *frames() {
      await ready;
      for (let t = 0; t < video.duration; t += 1 / fps) yield frameOf(await seek(t));
    },
    first: async () => {
      await ready;
      return seek(0);
    },
    close: () => URL.revokeObjectURL(url),
  };
}

/** The webcam: each frame is the newest picture at the moment the previous one has been answered. */
export async function webcam(): Promise<FrameSource> {
  if (!navigator.mediaDevices?.getUserMedia) throw new Error('this browser offers no camera (getUserMedia)');
  const stream = await navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 640 } }, audio: false });
  const video = document.createElement('video');
  video.muted = true;
  video.srcObject = stream;
  await video.play();
  let open = true;
  return {
    label: 'webcam',
    async *frames() {
      while (open) yield frameOf(await grab(video));
    },
    first: () => grab(video),
    close: () => {
      open = false;
      for (const track of stream.getTracks()) track.stop();
    },
  };
}
