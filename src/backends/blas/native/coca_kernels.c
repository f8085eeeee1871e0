/*
 * Native host kernels of the "blas" backend: the elementwise and row-wise passes of a CoCa train
 * step that the JavaScript kernels run one scalar at a time (exp in softmax and SwiGLU, layer
 * norm, AdamW, same-shape and broadcast adds), written so that the compiler vectorises them and
 * split across a small pool of threads. Loaded next to OpenBLAS through Deno's FFI by
 * native.ts; built by `deno task native` (native_build.ts) with the flags below.
 *
 * Numerics: every operation is single precision and rounds where the tfjs op path rounds
 * (-ffp-contract=off: no fused multiply-adds), except row sums (softmax denominators, layer norm
 * statistics), which are accumulated in double. exp is coca_expf below: Cody-Waite range
 * reduction and a degree-6 polynomial, within 2 ulp of the correctly rounded result over the
 * float range; exactly 0 below -104 and +Inf above 88.72 as expf.
 *
 * Threads: coca_set_threads(n) sizes the pool (1: everything on the calling thread). A kernel
 * splits its rows into n contiguous ranges; the calling thread runs the first. Kernels are called
 * one at a time (tfjs runs one kernel at a time), so the pool runs one job at a time.
 */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#ifndef COCA_SOURCE_ID
#define COCA_SOURCE_ID "unknown"
#endif

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
/* One copy per instruction set; the loader picks the best the CPU has (an ifunc). */
#define HOT __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define HOT
#endif

/* --------------------------------------------------------------------------------------------
 * Thread pool
 * ------------------------------------------------------------------------------------------ */

#define MAX_THREADS 64

typedef void (*range_fn)(void *ctx, long lo, long hi);

static int n_threads = 1;
static int n_started = 0; /* workers created so far (they live until the process exits) */
static pthread_t workers[MAX_THREADS];
static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pool_start = PTHREAD_COND_INITIALIZER;
static pthread_cond_t pool_done = PTHREAD_COND_INITIALIZER;
static unsigned long pool_generation = 0;
static int pool_pending = 0;
static range_fn job_fn;
static void *job_ctx;
static long job_n, job_grain;
static int job_parts;

/* The [lo, hi) of part `i` of `parts` over n items, in multiples of grain. */
static void part_range(long n, long grain, int parts, int i, long *lo, long *hi) {
  long units = (n + grain - 1) / grain;
  long a = units * i / parts, b = units * (i + 1) / parts;
  *lo = a * grain < n ? a * grain : n;
  *hi = b * grain < n ? b * grain : n;
}

/* The pool's generation when each worker was created (it waits for the next one). */
static unsigned long born_generation[MAX_THREADS];

static void *worker_main(void *arg) {
  int index = (int)(intptr_t)arg;
  pthread_mutex_lock(&pool_mu);
  unsigned long seen = born_generation[index];
  for (;;) {
    while (pool_generation == seen) pthread_cond_wait(&pool_start, &pool_mu);
    seen = pool_generation;
    if (index >= job_parts) continue;
    range_fn fn = job_fn;
    void *ctx = job_ctx;
    long lo, hi;
    part_range(job_n, job_grain, job_parts, index, &lo, &hi);
    pthread_mutex_unlock(&pool_mu);
    if (lo < hi) fn(ctx, lo, hi);
    pthread_mutex_lock(&pool_mu);
    if (--pool_pending == 0) pthread_cond_signal(&pool_done);
  }
  return 0;
}

/** Sets the number of threads kernels use (1..64); returns the number in effect. */
int coca_set_threads(int n) {
  if (n < 1) n = 1;
  if (n > MAX_THREADS) n = MAX_THREADS;
  pthread_mutex_lock(&pool_mu);
  while (n_started < n - 1) {
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    int index = n_started + 1;
    born_generation[index] = pool_generation;
    if (pthread_create(&workers[n_started], &attr, worker_main, (void *)(intptr_t)index) != 0) {
      pthread_attr_destroy(&attr);
      break;
    }
    pthread_attr_destroy(&attr);
    n_started++;
  }
  n_threads = n_started + 1 < n ? n_started + 1 : n;
  pthread_mutex_unlock(&pool_mu);
  return n_threads;
}

int coca_get_threads(void) { return n_threads; }

/* Runs fn over [0, n) in `parts` parts of whole multiples of grain (parts <= threads). */
static void run_parts(long n, long grain, int parts, range_fn fn, void *ctx) {
  if (parts <= 1) {
    if (n > 0) fn(ctx, 0, n);
    return;
  }
  pthread_mutex_lock(&pool_mu);
  job_fn = fn;
  job_ctx = ctx;
  job_n = n;
  job_grain = grain;
  job_parts = parts;
  pool_pending = parts - 1;
  pool_generation++;
  pthread_cond_broadcast(&pool_start);
  pthread_mutex_unlock(&pool_mu);
  long lo, hi;
  part_range(n, grain, parts, 0, &lo, &hi);
  if (lo < hi) fn(ctx, lo, hi);
  pthread_mutex_lock(&pool_mu);
  while (pool_pending > 0) pthread_cond_wait(&pool_done, &pool_mu);
  pthread_mutex_unlock(&pool_mu);
}

/* How many parts to split n items into: one per thread, at least min_per_part items each. */
static int parts_for(long n, long grain, long min_per_part) {
  int parts = n_threads;
  long units = (n + grain - 1) / grain;
  if (parts > units) parts = (int)units;
  while (parts > 1 && n / parts < min_per_part) parts--;
  return parts < 1 ? 1 : parts;
}

/*
 * Runs fn over [0, n) in parts of whole multiples of grain, one part per thread, when there are
 * at least min_per_thread items per thread; else on the calling thread alone.
 */
static void parallel_for(long n, long grain, long min_per_thread, range_fn fn, void *ctx) {
  if (grain < 1) grain = 1;
  run_parts(n, grain, parts_for(n, grain, min_per_thread), fn, ctx);
}

/** Elements per thread below which a pass stays on one thread (the wake-up costs more). */
#define MIN_ELEMS 32768

/** The id of the source this library was built from (native.ts refuses a stale build). */
const char *coca_source_id(void) { return COCA_SOURCE_ID; }

/* --------------------------------------------------------------------------------------------
 * exp
 * ------------------------------------------------------------------------------------------ */

static inline float bits_to_float(int32_t b) {
  float f;
  memcpy(&f, &b, sizeof f);
  return f;
}

/* e^x in single precision, branch-free so loops over it vectorise (see the top of the file). */
static inline float coca_expf(float x) {
  float xc = x > 88.7228394f ? 88.7228394f : x;
  xc = xc < -104.0f ? -104.0f : xc;
  /* n = round(x / ln 2) by the 1.5 * 2^23 trick (exact for |x / ln 2| < 2^22). */
  float t = xc * 1.44269504088896341f;
  float n = (t + 12582912.0f) - 12582912.0f;
  float r = xc - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  float y = p * (r * r) + r + 1.0f;
  /* y * 2^n in two steps so that results in the subnormal range round once more, not to 0. */
  int32_t e = (int32_t)n;
  int32_t e1 = e >> 1, e2 = e - e1;
  y = y * bits_to_float((e1 + 127) << 23);
  y = y * bits_to_float((e2 + 127) << 23);
  y = x > 88.7228394f ? INFINITY : y;
  y = x < -104.0f ? 0.0f : y;
  return x != x ? x : y;
}

/** e^x of n values (for the tests of coca_expf). */
HOT void coca_exp(const float *x, float *out, long n) {
  for (long i = 0; i < n; i++) out[i] = coca_expf(x[i]);
}

/* --------------------------------------------------------------------------------------------
 * SwiGLU: t (rows, 2F) = [x, g] -> x * g * sigmoid(g), and the gradient.
 * ------------------------------------------------------------------------------------------ */

typedef struct {
  const float *t, *dy;
  float *out;
  long F;
} swiglu_ctx;

HOT static void swiglu_rows(void *c, long lo, long hi) {
  swiglu_ctx *s = c;
  long F = s->F;
  for (long r = lo; r < hi; r++) {
    const float *x = s->t + r * 2 * F, *g = x + F;
    float *o = s->out + r * F;
    for (long j = 0; j < F; j++) o[j] = x[j] * g[j] / (1.0f + coca_expf(-g[j]));
  }
}

void coca_swiglu(const float *t, float *out, long rows, long F) {
  swiglu_ctx s = {t, 0, out, F};
  parallel_for(rows, 1, MIN_ELEMS / (F > 0 ? F : 1) + 1, swiglu_rows, &s);
}

HOT static void swiglu_grad_rows(void *c, long lo, long hi) {
  swiglu_ctx *s = c;
  long F = s->F;
  for (long r = lo; r < hi; r++) {
    const float *x = s->t + r * 2 * F, *g = x + F, *d = s->dy + r * F;
    float *dx = s->out + r * 2 * F, *dg = dx + F;
    for (long j = 0; j < F; j++) {
      float sg = 1.0f / (1.0f + coca_expf(-g[j]));
      dx[j] = d[j] * g[j] * sg;
      dg[j] = d[j] * x[j] * sg * (1.0f + g[j] * (1.0f - sg));
    }
  }
}

void coca_swiglu_grad(const float *t, const float *dy, float *dt, long rows, long F) {
  swiglu_ctx s = {t, dy, dt, F};
  parallel_for(rows, 1, MIN_ELEMS / (F > 0 ? F : 1) + 1, swiglu_grad_rows, &s);
}

/* --------------------------------------------------------------------------------------------
 * AdamW: p' = p - lr (m'/bc1) / (sqrt(v'/bc2) + eps) - lr wd p, m' and v' the moving averages.
 * ------------------------------------------------------------------------------------------ */

typedef struct {
  float *p, *m, *v;
  const float *g;
  float lr, b1, b2, eps, decay, bc1, bc2, gs;
} adamw_ctx;

/* In place: p, m and v are distinct arrays (the caller copies where it may not overwrite). */
HOT static void adamw_range(void *c, long lo, long hi) {
  adamw_ctx *a = c;
  float *restrict P = a->p, *restrict M = a->m, *restrict V = a->v;
  const float *restrict G = a->g;
  const float b1 = a->b1, b2 = a->b2, c1 = 1.0f - a->b1, c2 = 1.0f - a->b2;
  const float lr = a->lr, eps = a->eps, decay = a->decay, bc1 = a->bc1, bc2 = a->bc2, gs = a->gs;
  for (long i = lo; i < hi; i++) {
    float g = G[i] * gs;
    float m = b1 * M[i] + c1 * g;
    float v = b2 * V[i] + c2 * (g * g);
    float p = P[i];
    M[i] = m;
    V[i] = v;
    P[i] = p - lr * (m / bc1) / (sqrtf(v / bc2) + eps) - decay * p;
  }
}

/* One AdamW update of n elements of p, m and v in place (g read only). */
void coca_adamw(float *p, const float *g, float *m, float *v, long n, float lr, float beta1,
                float beta2, float eps, float decay, float bc1, float bc2, float grad_scale) {
  adamw_ctx a = {p, m, v, g, lr, beta1, beta2, eps, decay, bc1, bc2, grad_scale};
  parallel_for(n, 64, MIN_ELEMS, adamw_range, &a);
}

/* --------------------------------------------------------------------------------------------
 * Layer norm over the last axis (d), and its gradient.
 * ------------------------------------------------------------------------------------------ */

typedef struct {
  const float *x, *g, *b, *dy;
  float *y, *dx, *dg, *db; /* dg, db: one row of d per part (summed afterwards) */
  long d;
  float eps;
  int parts;
  long rows;
} ln_ctx;

/* Mean and 1/sqrt(var + eps) of a row, the sums in double. */
HOT static void row_stats(const float *x, long d, float eps, float *mean_out, float *rstd_out) {
  double s = 0;
#pragma omp simd reduction(+ : s)
  for (long j = 0; j < d; j++) s += x[j];
  double mean = s / (double)d;
  double v = 0;
#pragma omp simd reduction(+ : v)
  for (long j = 0; j < d; j++) {
    double c = (double)x[j] - mean;
    v += c * c;
  }
  *mean_out = (float)mean;
  *rstd_out = (float)(1.0 / sqrt(v / (double)d + (double)eps));
}

HOT static void ln_rows(void *c, long lo, long hi) {
  ln_ctx *s = c;
  long d = s->d;
  for (long r = lo; r < hi; r++) {
    const float *x = s->x + r * d;
    float *y = s->y + r * d;
    float mean, rstd;
    row_stats(x, d, s->eps, &mean, &rstd);
    for (long j = 0; j < d; j++) y[j] = (x[j] - mean) * rstd * s->g[j] + s->b[j];
  }
}

void coca_layernorm(const float *x, const float *g, const float *b, float *y, long rows, long d,
                    float eps) {
  ln_ctx s = {x, g, b, 0, y, 0, 0, 0, d, eps, 0, rows};
  parallel_for(rows, 1, MIN_ELEMS / (d > 0 ? d : 1) + 1, ln_rows, &s);
}

HOT static void ln_grad_rows(void *c, long lo, long hi) {
  ln_ctx *s = c;
  long d = s->d;
  /* Which part this is: parts are contiguous and equal up to rounding; find it from lo. */
  int part = 0;
  for (int i = 1; i < s->parts; i++) {
    long a, b;
    part_range(s->rows, 1, s->parts, i, &a, &b);
    if (lo >= a) part = i;
  }
  float *dg = s->dg + (long)part * d, *db = s->db + (long)part * d;
  for (long r = lo; r < hi; r++) {
    const float *x = s->x + r * d, *dy = s->dy + r * d;
    float *dx = s->dx + r * d;
    float mean, rstd;
    row_stats(x, d, s->eps, &mean, &rstd);
    double sg = 0, sgx = 0;
#pragma omp simd reduction(+ : sg, sgx)
    for (long j = 0; j < d; j++) {
      float xh = (x[j] - mean) * rstd;
      float gy = dy[j] * s->g[j];
      sg += gy;
      sgx += gy * xh;
      dg[j] += dy[j] * xh;
      db[j] += dy[j];
    }
    float mg = (float)(sg / (double)d), mgx = (float)(sgx / (double)d);
    for (long j = 0; j < d; j++) {
      float xh = (x[j] - mean) * rstd;
      dx[j] = rstd * (dy[j] * s->g[j] - mg - xh * mgx);
    }
  }
}

/*
 * dx (rows, d); dg and db (d) are summed over rows. scratch: at least threads * 2 * d floats
 * (per-thread partial sums).
 */
void coca_layernorm_grad(const float *x, const float *g, const float *dy, float *dx, float *dg,
                         float *db, float *scratch, long rows, long d, float eps) {
  int parts = parts_for(rows, 1, MIN_ELEMS / (d > 0 ? d : 1) + 1);
  memset(scratch, 0, sizeof(float) * 2 * (size_t)parts * (size_t)d);
  ln_ctx s = {x, g, 0, dy, 0, dx, scratch, scratch + (long)parts * d, d, eps, parts, rows};
  run_parts(rows, 1, parts, ln_grad_rows, &s);
  for (long j = 0; j < d; j++) {
    float a = 0, b = 0;
    for (int i = 0; i < parts; i++) {
      a += s.dg[(long)i * d + j];
      b += s.db[(long)i * d + j];
    }
    dg[j] = a;
    db[j] = b;
  }
}

/* --------------------------------------------------------------------------------------------
 * Attention rows: scale, mask, bias and softmax of a block of score rows in place, and the
 * softmax gradient.
 * ------------------------------------------------------------------------------------------ */

#define MASK_VALUE (-3.4028234663852886e38f)

typedef struct {
  float *p;
  const float *pr, *bias;
  long M, visible0, bias_row, bias_col;
  float scale;
  int causal;
} attn_ctx;

HOT static void softmax_rows(void *c, long lo, long hi) {
  attn_ctx *s = c;
  long M = s->M;
  for (long i = lo; i < hi; i++) {
    float *p = s->p + i * M;
    long visible = s->causal ? s->visible0 + i + 1 : M;
    const float *b = s->bias ? s->bias + i * s->bias_row : 0;
    float mx = -INFINITY;
    int nan = 0;
    for (long j = 0; j < M; j++) {
      float v = p[j];
      if (s->scale != 1.0f) v = v * s->scale;
      if (j >= visible) v = v + MASK_VALUE;
      if (b) v = v + b[j * s->bias_col];
      p[j] = v;
      mx = v > mx ? v : mx;
      nan |= v != v;
    }
    if (nan) mx = NAN;
    double sum = 0;
#pragma omp simd reduction(+ : sum)
    for (long j = 0; j < M; j++) {
      float e = coca_expf(p[j] - mx);
      p[j] = e;
      sum += e;
    }
    float inv = (float)(1.0 / sum);
    for (long j = 0; j < M; j++) p[j] = p[j] * inv;
  }
}

/*
 * Rows [0, rows) of a (rows, M) block of scores p: v = p * scale (when scale != 1), + MASK_VALUE
 * where causal hides key j from row i (j >= visible0 + i + 1), + bias[i * bias_row + j *
 * bias_col] (bias may be null), then softmax with the row maximum subtracted.
 */
void coca_attention_softmax(float *p, long rows, long M, float scale, int causal, long visible0,
                            const float *bias, long bias_row, long bias_col) {
  attn_ctx s = {p, 0, bias, M, visible0, bias_row, bias_col, scale, causal};
  parallel_for(rows, 1, MIN_ELEMS / (M > 0 ? M : 1) + 1, softmax_rows, &s);
}

HOT static void softmax_grad_rows(void *c, long lo, long hi) {
  attn_ctx *s = c;
  long M = s->M;
  for (long i = lo; i < hi; i++) {
    float *dp = s->p + i * M;
    const float *p = s->pr + i * M;
    double sum = 0;
#pragma omp simd reduction(+ : sum)
    for (long j = 0; j < M; j++) sum += dp[j] * p[j];
    float rs = (float)sum;
    if (s->scale != 1.0f) {
      for (long j = 0; j < M; j++) dp[j] = (dp[j] * p[j] - rs * p[j]) * s->scale;
    } else {
      for (long j = 0; j < M; j++) dp[j] = dp[j] * p[j] - rs * p[j];
    }
  }
}

/* dP (rows, M) <- (P * dP - P * rowsum(P * dP)) * scale, in place. */
void coca_attention_softmax_grad(float *dp, const float *p, long rows, long M, float scale) {
  attn_ctx s = {dp, p, 0, M, 0, 0, 0, scale, 0};
  parallel_for(rows, 1, MIN_ELEMS / (M > 0 ? M : 1) + 1, softmax_grad_rows, &s);
}

/* --------------------------------------------------------------------------------------------
 * Token cross-entropy: per-row loss and its gradient from logits (N, V) and int32 labels.
 * ------------------------------------------------------------------------------------------ */

typedef struct {
  const float *x, *dy;
  const int32_t *y;
  float *out;
  long V;
} xent_ctx;

HOT static void nll_rows(void *c, long lo, long hi) {
  xent_ctx *s = c;
  long V = s->V;
  for (long r = lo; r < hi; r++) {
    const float *x = s->x + r * V;
    int32_t y = s->y[r];
    if (!(y >= 0 && y < V)) {
      s->out[r] = 0;
      continue;
    }
    float mx = -INFINITY;
    for (long j = 0; j < V; j++) mx = x[j] > mx ? x[j] : mx;
    double sum = 0;
#pragma omp simd reduction(+ : sum)
    for (long j = 0; j < V; j++) sum += coca_expf(x[j] - mx);
    s->out[r] = (float)(log(sum) + (double)mx - (double)x[y]);
  }
}

void coca_nll(const float *logits, const int32_t *labels, float *out, long N, long V) {
  xent_ctx s = {logits, 0, labels, out, V};
  parallel_for(N, 1, MIN_ELEMS / (V > 0 ? V : 1) + 1, nll_rows, &s);
}

HOT static void nll_grad_rows(void *c, long lo, long hi) {
  xent_ctx *s = c;
  long V = s->V;
  for (long r = lo; r < hi; r++) {
    const float *x = s->x + r * V;
    float *o = s->out + r * V;
    int32_t y = s->y[r];
    float g = s->dy[r];
    if (g == 0 || !(y >= 0 && y < V)) {
      memset(o, 0, sizeof(float) * (size_t)V);
      continue;
    }
    float mx = -INFINITY;
    for (long j = 0; j < V; j++) mx = x[j] > mx ? x[j] : mx;
    double sum = 0;
#pragma omp simd reduction(+ : sum)
    for (long j = 0; j < V; j++) {
      float e = coca_expf(x[j] - mx);
      o[j] = e;
      sum += e;
    }
    float scale = (float)((double)g / sum);
    for (long j = 0; j < V; j++) o[j] = o[j] * scale;
    o[y] -= g;
  }
}

void coca_nll_grad(const float *logits, const int32_t *labels, const float *dy, float *out, long N,
                   long V) {
  xent_ctx s = {logits, dy, labels, out, V};
  parallel_for(N, 1, MIN_ELEMS / (V > 0 ? V : 1) + 1, nll_grad_rows, &s);
}

/* --------------------------------------------------------------------------------------------
 * Binary elementwise ops: out[i] = a[i * as] op b[i * bs] over rows of n with row strides.
 * ------------------------------------------------------------------------------------------ */

enum { OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_MAX, OP_MIN, OP_SQDIFF };

typedef struct {
  const float *a, *b;
  float *out;
  long inner, a_row, b_row, a_step, b_step;
  int op;
} bin_ctx;

#define BIN_LOOP(EXPR)                                                                           \
  do {                                                                                           \
    if (as == 1 && bs == 1) {                                                                    \
      for (long i = 0; i < n; i++) {                                                             \
        float x = a[i], y = b[i];                                                                \
        o[i] = (EXPR);                                                                           \
      }                                                                                          \
    } else if (as == 1 && bs == 0) {                                                             \
      float y = b[0];                                                                            \
      for (long i = 0; i < n; i++) {                                                             \
        float x = a[i];                                                                          \
        o[i] = (EXPR);                                                                           \
      }                                                                                          \
    } else if (as == 0 && bs == 1) {                                                             \
      float x = a[0];                                                                            \
      for (long i = 0; i < n; i++) {                                                             \
        float y = b[i];                                                                          \
        o[i] = (EXPR);                                                                           \
      }                                                                                          \
    } else {                                                                                     \
      for (long i = 0; i < n; i++) {                                                             \
        float x = a[i * as], y = b[i * bs];                                                      \
        o[i] = (EXPR);                                                                           \
      }                                                                                          \
    }                                                                                            \
  } while (0)

HOT static void bin_run(int op, float *o, const float *a, long as, const float *b, long bs,
                        long n) {
  switch (op) {
  case OP_ADD: BIN_LOOP(x + y); break;
  case OP_SUB: BIN_LOOP(x - y); break;
  case OP_MUL: BIN_LOOP(x * y); break;
  case OP_DIV: BIN_LOOP(x / y); break;
  /* As Math.max / Math.min: NaN when either is NaN. */
  case OP_MAX: BIN_LOOP(x != x || y != y ? NAN : (x > y ? x : y)); break;
  case OP_MIN: BIN_LOOP(x != x || y != y ? NAN : (x < y ? x : y)); break;
  case OP_SQDIFF: BIN_LOOP((x - y) * (x - y)); break;
  }
}

static void bin_rows(void *c, long lo, long hi) {
  bin_ctx *s = c;
  for (long r = lo; r < hi; r++) {
    bin_run(s->op, s->out + r * s->inner, s->a + r * s->a_row, s->a_step, s->b + r * s->b_row,
            s->b_step, s->inner);
  }
}

/* One row split across threads: [lo, hi) of its elements. */
static void bin_flat(void *c, long lo, long hi) {
  bin_ctx *s = c;
  bin_run(s->op, s->out + lo, s->a + lo * s->a_step, s->a_step, s->b + lo * s->b_step, s->b_step,
          hi - lo);
}

/*
 * rows x inner outputs: out[r * inner + i] = a[r * a_row + i * a_step] op b[r * b_row + i *
 * b_step]. Returns 0, or -1 for an unknown op.
 */
int coca_binary(int op, const float *a, long a_row, long a_step, const float *b, long b_row,
                long b_step, float *out, long rows, long inner) {
  if (op < OP_ADD || op > OP_SQDIFF) return -1;
  bin_ctx s = {a, b, out, inner, a_row, b_row, a_step, b_step, op};
  if (rows == 1) parallel_for(inner, 1024, MIN_ELEMS, bin_flat, &s);
  else parallel_for(rows, 1, MIN_ELEMS / (inner > 0 ? inner : 1) + 1, bin_rows, &s);
  return 0;
}

/* --------------------------------------------------------------------------------------------
 * Rotary embedding over the last axis D (two halves of h = D/2): rows of t (outer, L, D) with
 * tables cos, sin (L, D).
 *   forward:  y_i = t_i cos_i + r_i sin_i, r = [-t_{h..D}, t_{0..h}] (rotate half)
 *   gradient: dt_j = dy_j cos_j + (j < h ? dy_{j+h} sin_{j+h} : -(dy_{j-h} sin_{j-h}))
 * each product and sum rounded to float as the tfjs ops round them.
 * ------------------------------------------------------------------------------------------ */

typedef struct {
  const float *t, *c, *s;
  float *out;
  long L, D;
  int grad;
} rot_ctx;

HOT static void rotary_rows(void *c, long lo, long hi) {
  rot_ctx *r = c;
  long L = r->L, D = r->D, h = D / 2;
  for (long row = lo; row < hi; row++) {
    const float *t = r->t + row * D, *cs = r->c + (row % L) * D, *sn = r->s + (row % L) * D;
    float *o = r->out + row * D;
    if (!r->grad) {
      for (long i = 0; i < h; i++) o[i] = t[i] * cs[i] + (-t[i + h]) * sn[i];
      for (long i = h; i < D; i++) o[i] = t[i] * cs[i] + t[i - h] * sn[i];
    } else {
      for (long j = 0; j < h; j++) o[j] = t[j] * cs[j] + t[j + h] * sn[j + h];
      for (long j = h; j < D; j++) o[j] = t[j] * cs[j] + -(t[j - h] * sn[j - h]);
    }
  }
}

/* rows = outer * L rows of D; grad 0: the rotary embedding of t, 1: its gradient (t is dy). */
void coca_rotary(const float *t, const float *cos_table, const float *sin_table, float *out,
                 long rows, long L, long D, int grad) {
  rot_ctx r = {t, cos_table, sin_table, out, L, D, grad};
  parallel_for(rows, 1, MIN_ELEMS / (D > 0 ? D : 1) + 1, rotary_rows, &r);
}

/* --------------------------------------------------------------------------------------------
 * Exact (erf) GELU: y = x/2 (1 + erf(x/√2)), and dy/dx = (1 + erf(x/√2))/2 + x φ(x).
 * ------------------------------------------------------------------------------------------ */

/* e^(-z²) without the rounding of z² in the exponent: z = zh + zl with zh's product exact. */
static inline float exp_neg_square(float z) {
  int32_t b;
  memcpy(&b, &z, sizeof b);
  b &= (int32_t)0xfffff000; /* zh: the top 12 of the 24 significand bits, so zh·zh is exact */
  float zh = bits_to_float(b), zl = z - zh;
  float lo = zl * (zh + z); /* z² − zh² = zl (zh + z) */
  return coca_expf(-(zh * zh)) * coca_expf(-lo);
}

/*
 * 1 + erf(z): erfc(|z|) (z < 0) or 2 − erfc(z), erfc by the Chebyshev fit of Numerical Recipes
 * (fractional error below 1.2e-7), so the result is accurate relative to itself on both sides.
 */
static inline float one_plus_erf(float z) {
  float a = z < 0 ? -z : z;
  float t = 1.0f / (1.0f + 0.5f * a);
  float p = 0.17087277f;
  p = p * t - 0.82215223f;
  p = p * t + 1.48851587f;
  p = p * t - 1.13520398f;
  p = p * t + 0.27886807f;
  p = p * t - 0.18628806f;
  p = p * t + 0.09678418f;
  p = p * t + 0.37409196f;
  p = p * t + 1.00002368f;
  p = p * t - 1.26551223f;
  float erfc = t * exp_neg_square(a) * coca_expf(p);
  return z < 0 ? erfc : 2.0f - erfc;
}

typedef struct {
  const float *x, *dy;
  float *out;
} gelu_ctx;

HOT static void gelu_range(void *c, long lo, long hi) {
  gelu_ctx *g = c;
  for (long i = lo; i < hi; i++) {
    float x = g->x[i];
    g->out[i] = 0.5f * (x * one_plus_erf(x * 0.70710678118654752f));
  }
}

HOT static void gelu_grad_range(void *c, long lo, long hi) {
  gelu_ctx *g = c;
  for (long i = lo; i < hi; i++) {
    float x = g->x[i], z = x * 0.70710678118654752f;
    float d = 0.5f * one_plus_erf(z) + x * (0.39894228040143268f * exp_neg_square(z));
    g->out[i] = g->dy[i] * d;
  }
}

/* out = GELU(x) (dy null) or dy · GELU'(x), n elements. */
void coca_gelu(const float *x, const float *dy, float *out, long n) {
  gelu_ctx g = {x, dy, out};
  parallel_for(n, 64, MIN_ELEMS / 4, dy ? gelu_grad_range : gelu_range, &g);
}
