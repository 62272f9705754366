// Contexts (arenas), tensor creation, naming and error recording.
#include "tl-impl.h"

#include <stdarg.h>
#include <time.h>

#define TL_ALIGN 64

struct tl_context {
    char  *mem;
    size_t size;
    size_t used;
    bool   owns_mem;
    bool   no_alloc;
    char   error[512];
    bool   has_error;
};

struct tl_context *tl_init(struct tl_init_params params) {
    struct tl_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return NULL;
    ctx->size = params.mem_size;
    ctx->no_alloc = params.no_alloc;
    if (params.mem_buffer) {
        ctx->mem = params.mem_buffer;
    } else {
        ctx->mem = tl_alloc_large(params.mem_size);   // TL_ALIGN-aligned
        ctx->owns_mem = true;
        if (!ctx->mem) {
            free(ctx);
            return NULL;
        }
    }
    return ctx;
}

void tl_free(struct tl_context *ctx) {
    if (!ctx) return;
    if (ctx->owns_mem) free(ctx->mem);
    free(ctx);
}

void tl_set_error(struct tl_context *ctx, const char *fmt, ...) {
    if (ctx->has_error) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->error, sizeof ctx->error, fmt, ap);
    va_end(ap);
    ctx->has_error = true;
}

const char *tl_error(const struct tl_context *ctx) { return ctx->has_error ? ctx->error : NULL; }
void tl_clear_error(struct tl_context *ctx) { ctx->has_error = false; ctx->error[0] = 0; }
size_t tl_used_mem(const struct tl_context *ctx) { return ctx->used; }

void *tl_ctx_alloc(struct tl_context *ctx, size_t size) {
    size_t start = (ctx->used + TL_ALIGN - 1) / TL_ALIGN * TL_ALIGN;
    if (start + size > ctx->size) {
        tl_set_error(ctx, "context out of memory: need %zu bytes more, arena is %zu bytes",
                     start + size - ctx->used, ctx->size);
        return NULL;
    }
    ctx->used = start + size;
    return ctx->mem + start;
}

static struct tl_tensor *new_tensor_impl(struct tl_context *ctx, enum tl_type type,
                                         const int64_t ne[TL_MAX_DIMS], bool with_data) {
    if (type < 0 || type >= TL_TYPE_COUNT) {
        tl_set_error(ctx, "new tensor: unknown type %d", (int)type);
        return NULL;
    }
    const struct tl_type_traits *tt = tl_type_traits(type);
    for (int i = 0; i < TL_MAX_DIMS; i++) {
        if (ne[i] <= 0) {
            tl_set_error(ctx, "new tensor: dimension %d is %lld (must be >= 1)", i,
                         (long long)ne[i]);
            return NULL;
        }
    }
    if (ne[0] % tt->block_size != 0) {
        tl_set_error(ctx, "new tensor: ne0 = %lld is not a multiple of the %s block size %lld",
                     (long long)ne[0], tt->name, (long long)tt->block_size);
        return NULL;
    }
    struct tl_tensor *t = tl_ctx_alloc(ctx, sizeof *t);
    if (!t) return NULL;
    memset(t, 0, sizeof *t);
    t->type = type;
    for (int i = 0; i < TL_MAX_DIMS; i++) t->ne[i] = ne[i];
    t->nb[0] = tt->type_size;
    t->nb[1] = tl_row_size(type, ne[0]);
    for (int i = 2; i < TL_MAX_DIMS; i++) t->nb[i] = t->nb[i - 1] * (size_t)ne[i - 1];
    if (with_data && !ctx->no_alloc) {
        t->data = tl_ctx_alloc(ctx, tl_nbytes(t));
        if (!t->data) return NULL;
    }
    return t;
}

struct tl_tensor *tl_new_tensor(struct tl_context *ctx, enum tl_type type, int n_dims,
                                const int64_t *ne) {
    int64_t full[TL_MAX_DIMS] = { 1, 1, 1, 1 };
    if (n_dims < 1 || n_dims > TL_MAX_DIMS) {
        tl_set_error(ctx, "new tensor: %d dimensions (1..4 allowed)", n_dims);
        return NULL;
    }
    for (int i = 0; i < n_dims; i++) full[i] = ne[i];
    return new_tensor_impl(ctx, type, full, true);
}

struct tl_tensor *tl_new_tensor_1d(struct tl_context *ctx, enum tl_type type, int64_t ne0) {
    return tl_new_tensor(ctx, type, 1, (int64_t[]){ ne0 });
}
struct tl_tensor *tl_new_tensor_2d(struct tl_context *ctx, enum tl_type type, int64_t ne0,
                                   int64_t ne1) {
    return tl_new_tensor(ctx, type, 2, (int64_t[]){ ne0, ne1 });
}
struct tl_tensor *tl_new_tensor_3d(struct tl_context *ctx, enum tl_type type, int64_t ne0,
                                   int64_t ne1, int64_t ne2) {
    return tl_new_tensor(ctx, type, 3, (int64_t[]){ ne0, ne1, ne2 });
}
struct tl_tensor *tl_new_tensor_4d(struct tl_context *ctx, enum tl_type type, int64_t ne0,
                                   int64_t ne1, int64_t ne2, int64_t ne3) {
    return tl_new_tensor(ctx, type, 4, (int64_t[]){ ne0, ne1, ne2, ne3 });
}

struct tl_tensor *tl_new_op(struct tl_context *ctx, enum tl_op op, enum tl_type type,
                            const int64_t ne[TL_MAX_DIMS], struct tl_tensor *src0,
                            struct tl_tensor *src1) {
    struct tl_tensor *t = new_tensor_impl(ctx, type, ne, true);
    if (!t) return NULL;
    t->op = op;
    t->src[0] = src0;
    t->src[1] = src1;
    return t;
}

struct tl_tensor *tl_new_view(struct tl_context *ctx, struct tl_tensor *a,
                              const int64_t ne[TL_MAX_DIMS], const size_t nb[TL_MAX_DIMS],
                              size_t offset) {
    struct tl_tensor *t = new_tensor_impl(ctx, a->type, ne, false);
    if (!t) return NULL;
    for (int i = 0; i < TL_MAX_DIMS; i++) t->nb[i] = nb[i];
    // a view of a view looks straight into the owner of the data
    struct tl_tensor *owner = a->view_src ? a->view_src : a;
    t->op = TL_OP_VIEW;
    t->src[0] = a;
    t->view_src = owner;
    t->view_offs = offset + (a->view_src ? a->view_offs : 0);
    if (owner->data) t->data = (char *)owner->data + t->view_offs;
    return t;
}

struct tl_tensor *tl_set_name(struct tl_tensor *t, const char *fmt, ...) {
    if (!t) return NULL;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->name, sizeof t->name, fmt, ap);
    va_end(ap);
    return t;
}

void tl_set_input(struct tl_tensor *t) { t->flags |= TL_FLAG_INPUT; }
void tl_set_output(struct tl_tensor *t) { t->flags |= TL_FLAG_OUTPUT; }
void tl_set_param(struct tl_tensor *t) { t->flags |= TL_FLAG_PARAM; }

int64_t tl_nelements(const struct tl_tensor *t) { return t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]; }
int64_t tl_nrows(const struct tl_tensor *t) { return t->ne[1] * t->ne[2] * t->ne[3]; }

size_t tl_nbytes(const struct tl_tensor *t) {
    // bytes from the first element to one past the last, whatever the strides (a
    // transposed view steps ne0 by a row; block types keep their rows whole)
    const struct tl_type_traits *tt = tl_type_traits(t->type);
    size_t bytes = tt->block_size > 1 || t->ne[0] < 1 ? tl_row_size(t->type, t->ne[0])
                                                      : (size_t)(t->ne[0] - 1) * t->nb[0] + tt->type_size;
    for (int i = 1; i < TL_MAX_DIMS; i++) bytes += (size_t)(t->ne[i] - 1) * t->nb[i];
    return bytes;
}

bool tl_is_contiguous(const struct tl_tensor *t) {
    size_t expect = tl_type_traits(t->type)->type_size;
    if (t->nb[0] != expect && t->ne[0] > 1) return false;
    expect = tl_row_size(t->type, t->ne[0]);
    for (int i = 1; i < TL_MAX_DIMS; i++) {
        if (t->ne[i] > 1 && t->nb[i] != expect) return false;
        expect *= (size_t)t->ne[i];
    }
    return true;
}

bool tl_are_same_shape(const struct tl_tensor *a, const struct tl_tensor *b) {
    for (int i = 0; i < TL_MAX_DIMS; i++)
        if (a->ne[i] != b->ne[i]) return false;
    return true;
}

int tl_n_dims(const struct tl_tensor *t) {
    for (int i = TL_MAX_DIMS - 1; i >= 1; i--)
        if (t->ne[i] > 1) return i + 1;
    return 1;
}

const char *tl_shape_str(const struct tl_tensor *t, char *buf, size_t size) {
    if (!t) {
        snprintf(buf, size, "(null)");
        return buf;
    }
    snprintf(buf, size, "%s [%lld, %lld, %lld, %lld]", tl_type_name(t->type),
             (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2], (long long)t->ne[3]);
    return buf;
}

static void unravel(const struct tl_tensor *t, int64_t i, int64_t idx[4]) {
    for (int d = 0; d < TL_MAX_DIMS; d++) {
        idx[d] = i % t->ne[d];
        i /= t->ne[d];
    }
}

float tl_get_f32_1d(const struct tl_tensor *t, int64_t i) {
    int64_t x[4];
    unravel(t, i, x);
    return tl_load_f32(t->type, tl_elem_ptr(t, x[0], x[1], x[2], x[3]));
}

void tl_set_f32_1d(struct tl_tensor *t, int64_t i, float v) {
    int64_t x[4];
    unravel(t, i, x);
    tl_store_f32(t->type, tl_elem_ptr(t, x[0], x[1], x[2], x[3]), v);
}

struct tl_tensor *tl_op_error(struct tl_context *ctx, const char *op, const struct tl_tensor *a,
                              const struct tl_tensor *b, const char *fmt, ...) {
    char reason[256], sa[96], sb[96];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    tl_shape_str(a, sa, sizeof sa);
    if (b) {
        tl_shape_str(b, sb, sizeof sb);
        tl_set_error(ctx, "%s: %s (a: %s, b: %s)", op, reason, sa, sb);
    } else {
        tl_set_error(ctx, "%s: %s (a: %s)", op, reason, sa);
    }
    return NULL;
}

void tl_errorf(char *err, size_t errlen, const char *fmt, ...) {
    if (!err || !errlen) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

double tl_time_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}
