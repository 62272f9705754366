// Shared by mul_mat.comp (f32 register tiles) and mul_mat_cm.comp (tensor cores), after
// weights.glsl and the output binding d: which batch and K split a workgroup computes,
// and how it writes an output.

// This workgroup's batch and split (dim z counts splits x batches), the element offsets
// of its a and b, and where its output (or its split's partial output) starts.
struct gemm_job { uint abase, bbase, dbase, k_begin, k_end; };
gemm_job gemm_job_of_workgroup() {
    uint batches = p.b2 * p.b3, z = gl_WorkGroupID.z % batches, split = gl_WorkGroupID.z / batches;
    uint i2 = z % p.b2, i3 = z / p.b2;
    gemm_job j;
    j.abase = p.off_a + (i2 / p.r2) * p.nb_a[2] + (i3 / p.r3) * p.nb_a[3];
    j.bbase = p.off_b + i2 * p.nb_b[2] + i3 * p.nb_b[3];
    j.dbase = p.off_d + (split * batches + i3 * p.b2 + i2) * p.N * p.ldd;
    j.k_begin = split * p.k_split;
    j.k_end = min(p.K, (split + 1u) * p.k_split);
    return j;
}

// Output (m, n) of the job: written, or added to with accumulate set.
void gemm_store(gemm_job j, uint m, uint n, float v) {
    if (m >= p.M || n >= p.N) return;
    uint o = j.dbase + n * p.ldd + m;
    d[o] = p.accumulate != 0u ? d[o] + v : v;
}
