#version 450
// Merges flash_attn.comp's key splits: per output row, the splits' running maxima m_s,
// sums l_s and unnormalised outputs a_s become sum_s a_s e^(m_s - M) / sum_s l_s e^(m_s - M)
// with M the largest m_s (0 when no key was visible, as the one-split path writes).
#extension GL_GOOGLE_include_directive : require
#define WG 64
layout(local_size_x = WG) in;
layout(binding = 0) readonly buffer PART { float part[]; };
layout(binding = 1) writeonly buffer D { float d[]; };
layout(push_constant) uniform P { uint D, rows, n_split, off_d; } p;

void main() {
    uint r = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
    if (r >= p.rows) return;
    uint stride = p.rows * (p.D + 2u);
    float M = -1.0 / 0.0;
    for (uint s = 0; s < p.n_split; s++) M = max(M, part[s * stride + r * (p.D + 2u)]);
    float L = 0.0;
    for (uint s = 0; s < p.n_split; s++) {
        uint prow = s * stride + r * (p.D + 2u);
        if (part[prow] > -1.0 / 0.0) L += part[prow + 1u] * exp(part[prow] - M);
    }
    for (uint e = gl_LocalInvocationID.x; e < p.D; e += WG) {
        float o = 0.0;
        for (uint s = 0; s < p.n_split; s++) {
            uint prow = s * stride + r * (p.D + 2u);
            if (part[prow] > -1.0 / 0.0) o += part[prow + 2u + e] * exp(part[prow] - M);
        }
        d[p.off_d + r * p.D + e] = L > 0.0 ? o / L : 0.0;
    }
}
