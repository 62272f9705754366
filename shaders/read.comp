#version 450
// The device's read bandwidth: every invocation sums vec4s of the buffer in a grid-stride
// loop (consecutive invocations read consecutive 16 bytes) and stores its sum once, so
// the bytes moved are the reads alone, as a GEMV's weights are.
layout(local_size_x = 256) in;
layout(binding = 0) readonly buffer A { vec4 a[]; };
layout(binding = 1) writeonly buffer D { float d[]; };
layout(push_constant) uniform P { uint n_vec4; } p;

void main() {
    uint i = gl_GlobalInvocationID.x, stride = gl_NumWorkGroups.x * 256u;
    vec4 s = vec4(0.0);
    for (; i < p.n_vec4; i += stride) s += a[i];
    d[gl_GlobalInvocationID.x] = s.x + s.y + s.z + s.w;
}
