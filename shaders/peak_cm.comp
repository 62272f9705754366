#version 450
// The tensor cores' throughput (VK_NV_cooperative_matrix, the 16 x 16 x 16 f16 x f16 + f32
// product mul_mat_cm.comp uses): each subgroup of the 256-thread workgroup runs 4
// independent accumulators for `iters` steps (4 x 8192 flops a step) and stores them so
// nothing is removed.
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_NV_cooperative_matrix : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_KHR_shader_subgroup_basic : require
#define HALF16 fcoopmatNV<16, gl_ScopeSubgroup, 16, 16>
#define ACC16  fcoopmatNV<32, gl_ScopeSubgroup, 16, 16>
layout(local_size_x = 256) in;
layout(binding = 0) buffer D { float d[]; };
layout(push_constant) uniform P { uint iters; float a, b; } p;
shared float16_t s[256];

void main() {
    s[gl_LocalInvocationID.x] = float16_t(p.a * float(gl_LocalInvocationID.x % 7u));
    barrier();
    HALF16 x, y;
    coopMatLoadNV(x, s, 0, 16, false);
    coopMatLoadNV(y, s, 0, 16, true);
    ACC16 c[4];
    for (int i = 0; i < 4; i++) c[i] = ACC16(p.b * float(i));
    for (uint it = 0; it < p.iters; it++)
        for (int i = 0; i < 4; i++) c[i] = coopMatMulAddNV(x, y, c[i]);
    for (int i = 1; i < 4; i++) c[0] = c[0] + c[i];
    coopMatStoreNV(c[0], d, (gl_WorkGroupID.x * 8u + gl_SubgroupID) * 256u, 16u, false);
}
