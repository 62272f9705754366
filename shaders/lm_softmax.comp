#version 450
// lm_loss's middle step, one workgroup per token of a chunk of logits z [C][V]: the
// token's loss lse - z_target into losses[n0 + c], and with grad set the row becomes
// dloss (softmax(z) - onehot(target)). A target outside [0, V) counts no loss and gets a
// zero row.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "reduce.glsl"
layout(local_size_x = 256) in;
layout(binding = 0) buffer Z { float z[]; };
layout(binding = 1) readonly buffer T { int targets[]; };
layout(binding = 2) readonly buffer G { float dloss[]; };
layout(binding = 3) writeonly buffer L { float losses[]; };
layout(push_constant) uniform P {
    uint V, C, n0;
    uint off_t, off_g;
    uint grad;
} p;

void main() {
    uint c = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
    if (c >= p.C) return;   // uniform across the group
    uint t = gl_LocalInvocationID.x, row = c * p.V;
    int tg = targets[p.off_t + p.n0 + c];
    if (tg < 0 || uint(tg) >= p.V) {
        if (p.grad != 0u)
            for (uint v = t; v < p.V; v += 256) z[row + v] = 0.0;
        if (t == 0) losses[p.n0 + c] = 0.0;
        return;
    }
    float mx = -1.0 / 0.0;
    for (uint v = t; v < p.V; v += 256) mx = max(mx, z[row + v]);
    mx = workgroup_max(mx);
    float s = 0.0;
    for (uint v = t; v < p.V; v += 256) s += exp(z[row + v] - mx);
    s = workgroup_sum(s);
    float zt = z[row + uint(tg)];   // read by all before any write below (the sums' barriers)
    if (t == 0) losses[p.n0 + c] = mx + log(s) - zt;
    if (p.grad == 0u) return;
    float g = dloss[p.off_g];
    for (uint v = t; v < p.V; v += 256) z[row + v] = g * (exp(z[row + v] - mx) / s - (v == uint(tg) ? 1.0 : 0.0));
}
