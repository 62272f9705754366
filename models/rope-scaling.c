// Rotary base scaling rules; see rope-scaling.h.
#include "rope-scaling.h"

#include <math.h>

double rope_base_static_ntk(double base, double factor, int rotary_dim) {
    return base * pow(factor, (double)rotary_dim / (rotary_dim - 2));
}

double rope_base_dynamic_ntk(double base, double factor, double length, double orig_length, int rotary_dim) {
    if (length <= orig_length) return base;
    return base * pow(factor * length / orig_length - (factor - 1), (double)rotary_dim / (rotary_dim - 2));
}
