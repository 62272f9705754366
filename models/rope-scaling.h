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
