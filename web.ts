/**
 * CoCa in a web browser: the browser entry of the workbench. It exports the model, the
 * tokenizer, weights from bytes (safetensors), a checkpoint from its fetched or picked files,
 * caption generation, retrieval metrics, the pooler's attention map, the PyTorch parity-fixture
 * runner, and the portable backend setup (webgpu, webgl, wasm, cpu), and imports nothing
 * Deno-only (`tests/web_entry_test.ts` walks its imports). `mod.ts` is the Deno entry.
 *
 * Bundle it with `deno bundle --platform browser`; `deno task web` serves a page built on it.
 *
 * @example
 * ```ts ignore
 * import { fetchCheckpoint, generate, setupPortableBackend, toModelImage } from "./web.ts";
 * const backend = await setupPortableBackend("auto", { wasmPaths: "/wasm/" });
 * const { model, tokenizer } = await fetchCheckpoint("/checkpoint/");
 * console.log(backend.name, model.config.numTokens, tokenizer.vocabSize);
 * ```
 *
 * @module
 */
export * from "./src/backends/portable.ts";
export * from "./src/model/mod.ts";
export * from "./src/model/pool_attention.ts";
export * from "./src/generate/mod.ts";
export * from "./src/generate/token_probs.ts";
export {
  DTYPE_BYTES,
  FLOAT_DTYPES,
  fromTensor,
  INT32_RANGE,
  MAX_HEADER_BYTES,
  parseSafetensors,
  type RawTensor,
  type SafeTensors,
  SAFETENSORS_DTYPES,
  SafetensorsError,
  serializeSafetensors,
  toTensor,
} from "./src/weights/safetensors.ts";
export * from "./src/weights/bytes.ts";
export {
  buildModel,
  type CheckpointFiles,
  type CheckpointFromFiles,
  checkpointFromFiles,
  type CheckpointNames,
  fetchCheckpoint,
  modelWithWeights,
  parseConfigJson,
} from "./src/train/checkpoint_model.ts";
export * from "./src/eval/metrics.ts";
export * from "./src/eval/recall.ts";
export { encodeTexts } from "./src/eval/encode.ts";
export {
  BOS_ID,
  type EncodeBatchOptions,
  type EncodedBatch,
  type EncodeOptions,
  EOS_ID,
  PAD_ID,
  pretokenize,
  Tokenizer,
  TokenizerError,
  type TokenizerJSON,
  trainTokenizer,
} from "./src/text/tokenizer.ts";
export { captionText } from "./src/text/caption.ts";
export {
  decodeImage,
  type DecodeImageOptions,
  FIT_MODES,
  type FitMode,
  ImageError,
  imageHeader,
  type RgbaImage,
  toModelImage,
  type ToModelImageOptions,
  toRgbBytes,
} from "./src/data/image.ts";
export { modelImageOptions } from "./src/data/image_options.ts";
export {
  FixtureError,
  maxRelErr,
  PARITY_FORMAT,
  PARITY_TOLERANCE,
  type ParityRow,
  readFixture,
  runParity,
} from "./src/reference/parity.ts";
