// rope-scaling.h: raising the rotary base frequency for a context longer than the model
// was trained on (spec section 7). One base is fixed for a whole run: training and
// inference must use the same one (train-longpt writes it into its checkpoints).
//
// Which length L to feed the dynamic rule is the caller's choice and must be stated: with
// page images the largest M-RoPE position is ~40x below the token count (a 50-page
// document is 129K tokens but positions only reach 3,123), so a rule fed with positions
// gives a much smaller base than one fed with tokens.
#pragma once

// Static NTK-aware: base * s^(d / (d - 2)), d the rotary dimension (128 for Qwen2.5-VL).
double rope_base_static_ntk(double base, double factor, int rotary_dim);
// Dynamic NTK (HuggingFace "dynamic"): base * (s L / L0 - (s - 1))^(d / (d - 2)) when
// L > L0, else base unchanged.
double rope_base_dynamic_ntk(double base, double factor, double length, double orig_length, int rotary_dim);

// YaRN (HuggingFace _compute_yarn_parameters, beta_fast 32, beta_slow 1, truncated ramp):
// pair frequency indices below ramp_low keep their frequency, above ramp_high are divided
// by factor, linear in between; cos/sin are scaled by attn_factor = 0.1 ln(factor) + 1.
// factor is used as given: some transformers versions replace it by
// max_position_embeddings / original_max_position_embeddings when the config has both.
struct rope_yarn {
    float factor;       // 0: no YaRN
    float ramp_low, ramp_high;
    float attn_factor;
};
void rope_yarn_params(double base, double factor, double orig_ctx, int rotary_dim, struct rope_yarn *y);

// A run's rope settings, as the command line states them.
enum rope_scaling_type { ROPE_SCALING_NONE, ROPE_SCALING_STATIC, ROPE_SCALING_DYNAMIC, ROPE_SCALING_YARN };
struct rope_scaling {
    enum rope_scaling_type type;
    double base;        // > 0: overrides the model's base (before any rule)
    double factor;      // s (required by every rule)
    double orig_ctx;    // L0 (default 32768)
};
// The base and YaRN parameters of a run whose largest position is length - 1.
void rope_scaling_resolve(const struct rope_scaling *s, double model_base, int rotary_dim, double length,
                          double *base, struct rope_yarn *yarn);
