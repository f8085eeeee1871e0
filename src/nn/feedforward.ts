/**
 * Feed-forward activation of the ViT: exact GELU, `0.5 x (1 + erf(x / √2))` (CoCa's SwiGLU is
 * `ops/swiglu.ts`). The op lives in `ops/gelu.ts` (fused on blas).
 *
 * @module
 */
export { gelu } from "../ops/gelu.ts";
