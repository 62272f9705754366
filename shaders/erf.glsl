// erf to ~1e-7 absolute: Abramowitz & Stegun 7.1.26 is 1.5e-7; this uses the
// complementary-error-function fit of Numerical Recipes (erfc, fractional error < 1.2e-7).
float erf_precise(float x) {
    float z = abs(x);
    float t = 1.0 / (1.0 + 0.5 * z);
    float r = t * exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 +
              t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 +
              t * (-0.82215223 + t * 0.17087277)))))))));
    return x >= 0.0 ? 1.0 - r : r - 1.0;
}
