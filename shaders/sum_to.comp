#version 450
// One workgroup per destination element: d[j] = sum of a[i] over every i with i mod ne_d
// == j (dims 0-3), i.e. the gradient of a broadcast. a f32, any strides; d contiguous.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "reduce.glsl"
layout(local_size_x = 256) in;
layout(binding = 0) readonly buffer A { float a[]; };
layout(binding = 1) writeonly buffer D { float d[]; };
layout(push_constant) uniform P {
    uint n_d;                  // destination elements
    uint ne_d[4];
    uint ratio[4];             // ne_a / ne_d per dim
    uint nb_a[4]; uint off_a;
    uint off_d;
} p;

void main() {
    uint j = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
    if (j >= p.n_d) return;   // uniform across the group
    uvec4 jd = uvec4(j % p.ne_d[0], (j / p.ne_d[0]) % p.ne_d[1], (j / (p.ne_d[0] * p.ne_d[1])) % p.ne_d[2],
                     j / (p.ne_d[0] * p.ne_d[1] * p.ne_d[2]));
    uint count = p.ratio[0] * p.ratio[1] * p.ratio[2] * p.ratio[3];
    float s = 0.0;
    for (uint k = gl_LocalInvocationID.x; k < count; k += 256) {
        uvec4 kd = uvec4(k % p.ratio[0], (k / p.ratio[0]) % p.ratio[1], (k / (p.ratio[0] * p.ratio[1])) % p.ratio[2],
                         k / (p.ratio[0] * p.ratio[1] * p.ratio[2]));
        uvec4 i = jd + kd * U4(p.ne_d);
        s += a[p.off_a + i.x * p.nb_a[0] + i.y * p.nb_a[1] + i.z * p.nb_a[2] + i.w * p.nb_a[3]];
    }
    s = workgroup_sum(s);
    if (gl_LocalInvocationID.x == 0) d[p.off_d + j] = s;
}
