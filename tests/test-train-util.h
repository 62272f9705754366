// Shared by the training tests: a GGUF of random f32 tensors for a list of specs, so a
// test can make a small text model or projector of any shape without a converter, and
// copies of parameters' gradients to compare runs.
#pragma once

#include "test-util.h"

#include "qwen25vl-gguf.h"
#include "train-model.h"
#include "tl-gguf.h"

// Adds every spec's tensor to g (which holds the metadata) and writes it to path: norm
// weights near 1, biases small, matrices about 1/sqrt(fan-in). false with a message.
static bool write_random_gguf(struct tl_gguf *g, const struct qwen25vl_tensor_spec *specs, int n, const char *path,
                              char *err, size_t errlen) {
    float **data = calloc(n, sizeof *data);
    bool ok = data != NULL;
    for (int i = 0; i < n && ok; i++) {
        int64_t count = specs[i].ne[0] * specs[i].ne[1] * specs[i].ne[2] * specs[i].ne[3];
        const char *name = specs[i].name;
        bool norm = strstr(name, "norm") || strstr(name, ".ln"), bias = strstr(name, "bias") != NULL;
        float scale = norm ? 0.2f : bias ? 0.1f : 1.0f / sqrtf((float)(count / specs[i].ne[specs[i].n_dims - 1]));
        if (!(data[i] = malloc(count * sizeof(float)))) abort();
        for (int64_t j = 0; j < count; j++) data[i][j] = (norm ? 1.0f : 0.0f) + rng_uniform(-scale, scale) * 1.7f;
        int64_t t = tl_gguf_add_tensor(g, name, TL_GGML_F32, specs[i].n_dims, specs[i].ne, err, errlen);
        ok = t >= 0;
        if (ok) tl_gguf_set_tensor_data(g, t, data[i]);
    }
    ok = ok && tl_gguf_write_file(g, path, err, errlen);
    for (int i = 0; data && i < n; i++) free(data[i]);
    free(data);
    return ok;
}

// A copy of each parameter's accumulated gradient (free with free_grads).
static float **save_grads(const struct train_param *params, int n) {
    float **g = malloc(n * sizeof *g);
    if (!g) abort();
    for (int i = 0; i < n; i++) {
        if (!(g[i] = malloc(params[i].n * sizeof(float)))) abort();
        memcpy(g[i], params[i].grad, params[i].n * sizeof(float));
    }
    return g;
}

static void free_grads(float **g, int n) {
    for (int i = 0; i < n; i++) free(g[i]);
    free(g);
}
