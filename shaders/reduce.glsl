// A workgroup-wide sum through shared memory for shaders of local size REDUCE_WG (256
// unless defined first, a power of two) whose every invocation calls it (it has barriers).
#ifndef REDUCE_WG
#define REDUCE_WG 256
#endif
shared float reduce_part[REDUCE_WG];

float workgroup_sum(float v) {
    uint t = gl_LocalInvocationID.x;
    reduce_part[t] = v;
    barrier();
    for (uint s = REDUCE_WG / 2; s > 0; s >>= 1) {
        if (t < s) reduce_part[t] += reduce_part[t + s];
        barrier();
    }
    float r = reduce_part[0];
    barrier();
    return r;
}

float workgroup_max(float v) {
    uint t = gl_LocalInvocationID.x;
    reduce_part[t] = v;
    barrier();
    for (uint s = REDUCE_WG / 2; s > 0; s >>= 1) {
        if (t < s) reduce_part[t] = max(reduce_part[t], reduce_part[t + s]);
        barrier();
    }
    float r = reduce_part[0];
    barrier();
    return r;
}
