// Names and reference kernels of every op: one row per op.
#include "tl-impl.h"

static const struct {
    const char   *name;
    tl_ref_kernel ref;
} op_table[TL_OP_COUNT] = {
    [TL_OP_NONE]       = { "none",       NULL },
    [TL_OP_VIEW]       = { "view",       NULL },
    [TL_OP_CONT]       = { "cont",       tl_ref_cont },
    [TL_OP_CPY]        = { "cpy",        tl_ref_cont },
    [TL_OP_CONCAT]     = { "concat",     tl_ref_concat },
    [TL_OP_GET_ROWS]   = { "get_rows",   tl_ref_get_rows },
    [TL_OP_ADD]        = { "add",        tl_ref_binary },
    [TL_OP_SUB]        = { "sub",        tl_ref_binary },
    [TL_OP_MUL]        = { "mul",        tl_ref_binary },
    [TL_OP_DIV]        = { "div",        tl_ref_binary },
    [TL_OP_SCALE]      = { "scale",      tl_ref_scale },
    [TL_OP_SILU]       = { "silu",       tl_ref_unary },
    [TL_OP_GELU]       = { "gelu",       tl_ref_unary },
    [TL_OP_GELU_TANH]  = { "gelu_tanh",  tl_ref_unary },
    [TL_OP_SWIGLU]     = { "swiglu",     tl_ref_swiglu },
    [TL_OP_RMS_NORM]   = { "rms_norm",   tl_ref_rms_norm },
    [TL_OP_LAYER_NORM] = { "layer_norm", tl_ref_layer_norm },
    [TL_OP_SOFT_MAX]   = { "soft_max",   tl_ref_soft_max },
    [TL_OP_ROPE]       = { "rope",       tl_ref_rope },
    [TL_OP_ARGMAX]     = { "argmax",     tl_ref_argmax },
    [TL_OP_MUL_MAT]    = { "mul_mat",    tl_ref_mul_mat },
    [TL_OP_FLASH_ATTN] = { "flash_attn", tl_ref_flash_attn },
    [TL_OP_LM_LOSS]    = { "lm_loss",    tl_ref_lm_loss },
    [TL_OP_SUM_TO]          = { "sum_to",          tl_ref_sum_to },
    [TL_OP_VIEW_BACK]       = { "view_back",       tl_ref_view_back },
    [TL_OP_GET_ROWS_BACK]   = { "get_rows_back",   tl_ref_get_rows_back },
    [TL_OP_UNARY_BACK]      = { "unary_back",      tl_ref_unary_back },
    [TL_OP_RMS_NORM_BACK]   = { "rms_norm_back",   tl_ref_rms_norm_back },
    [TL_OP_LAYER_NORM_BACK] = { "layer_norm_back", tl_ref_layer_norm_back },
    [TL_OP_SOFT_MAX_BACK]   = { "soft_max_back",   tl_ref_soft_max_back },
    [TL_OP_FLASH_ATTN_BACK] = { "flash_attn_back", tl_ref_flash_attn_back },
    [TL_OP_LM_LOSS_BACK]    = { "lm_loss_back",    tl_ref_lm_loss_back },
};

const char *tl_op_name(enum tl_op op) {
    return (op >= 0 && op < TL_OP_COUNT && op_table[op].name) ? op_table[op].name : "?";
}

tl_ref_kernel tl_op_ref_kernel(enum tl_op op) {
    TL_ASSERT(op >= 0 && op < TL_OP_COUNT);
    return op_table[op].ref;
}
