#version 450
// The device's FMA throughput: each invocation runs 8 independent vec4 multiply-add
// chains for `iters` steps (64 flops a step) and stores their sum so nothing is removed.
layout(local_size_x = 256) in;
layout(binding = 0) writeonly buffer D { float d[]; };
layout(push_constant) uniform P { uint iters; float a, b; } p;

void main() {
    vec4 x[8];
    for (int i = 0; i < 8; i++) x[i] = vec4(float(gl_LocalInvocationID.x + i) * 1e-3);
    vec4 a = vec4(p.a), b = vec4(p.b);
    for (uint it = 0; it < p.iters; it++)
        for (int i = 0; i < 8; i++) x[i] = fma(x[i], a, b);
    vec4 s = x[0] + x[1] + x[2] + x[3] + x[4] + x[5] + x[6] + x[7];
    d[gl_WorkGroupID.x * 256 + gl_LocalInvocationID.x] = s.x + s.y + s.z + s.w;
}
