// Shared by the compute shaders. Tensors are bound as storage buffers at an offset rounded
// down to the device's alignment; off_* (in elements) is the rest. Strides nb_* are in
// elements, shapes ne_* as libtl's (ne[0] the fastest dimension).
#extension GL_EXT_shader_16bit_storage : require

// A flat invocation index over a 2-D dispatch (x is capped at 65535 groups on many devices).
uint flat_index(uint local_size) {
    return (gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x) * local_size + gl_LocalInvocationID.x;
}

// Element i of a tensor of shape ne (ne[0] fastest) at strides nb, as an element offset.
uint strided(uint i, uvec4 ne, uvec4 nb) {
    uint i0 = i % ne.x; i /= ne.x;
    uint i1 = i % ne.y; i /= ne.y;
    uint i2 = i % ne.z;
    uint i3 = i / ne.z;
    return i0 * nb.x + i1 * nb.y + i2 * nb.z + i3 * nb.w;
}

// The same element of a broadcast operand of shape nb_ne (each dim 1 or the full size).
uint strided_broadcast(uint i, uvec4 ne, uvec4 b_ne, uvec4 b_nb) {
    uint i0 = i % ne.x; i /= ne.x;
    uint i1 = i % ne.y; i /= ne.y;
    uint i2 = i % ne.z;
    uint i3 = i / ne.z;
    return (i0 % b_ne.x) * b_nb.x + (i1 % b_ne.y) * b_nb.y + (i2 % b_ne.z) * b_nb.z + (i3 % b_ne.w) * b_nb.w;
}

// Push constants hold shapes and strides as uint[4] (std430 packs them at 4-byte steps).
#define U4(a) uvec4(a[0], a[1], a[2], a[3])
