#version 450
// d[n][m] = sum_k a[m][k] * b[n][k] over 16 x 16 output tiles, K in steps of 16 through
// shared memory. a (weights) is one W_* type [K, M, A2, A3] (weights.glsl), b f32
// [K, N, B2, B3] broadcast over a's dims 2-3, d f32 contiguous [M, N, B2, B3] (d += with
// accumulate set). Any strides.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "weights.glsl"
layout(local_size_x = 16, local_size_y = 16) in;
layout(binding = 1) readonly buffer B { float b[]; };
layout(binding = 2) buffer D { float d[]; };

shared float ta[16][17], tb[16][17];

void main() {
    uint lm = gl_LocalInvocationID.x, ln = gl_LocalInvocationID.y;
    uint m = gl_WorkGroupID.x * 16 + lm, n = gl_WorkGroupID.y * 16 + ln;
    uint z = gl_WorkGroupID.z, i2 = z % p.b2, i3 = z / p.b2;
    uint abase = p.off_a + (i2 / p.r2) * p.nb_a[2] + (i3 / p.r3) * p.nb_a[3];
    uint bbase = p.off_b + i2 * p.nb_b[2] + i3 * p.nb_b[3];
    uint m_load = gl_WorkGroupID.x * 16 + ln, n_load = gl_WorkGroupID.y * 16 + ln;
    float acc = 0.0;
    for (uint k0 = 0; k0 < p.K; k0 += 16) {
        uint k = k0 + lm;   // thread (lm, ln) loads a[m_load][k] and b[n_load][k]
        ta[ln][lm] = (k < p.K && m_load < p.M) ? w_elem(abase + m_load * p.nb_a[1], k) : 0.0;
        tb[ln][lm] = (k < p.K && n_load < p.N) ? b[bbase + n_load * p.nb_b[1] + k * p.nb_b[0]] : 0.0;
        barrier();
        for (uint kk = 0; kk < 16; kk++) acc += ta[lm][kk] * tb[ln][kk];
        barrier();
    }
    if (m < p.M && n < p.N) {
        uint o = p.off_d + ((i3 * p.b2 + i2) * p.N + n) * p.M + m;
        d[o] = p.accumulate != 0u ? d[o] + acc : acc;
    }
}
