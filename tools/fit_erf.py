#!/usr/bin/env python3
"""Fits the two polynomials of vec::erf (tensor/cpu/vec.h) and prints them rounded to float32.

Minimax by Lawson's iteratively reweighted least squares, in double:
  |x| <= 0.927734375:  erf(x) = x + x q(x^2), q of degree 5, relative error of erf;
  [0.927734375, 4]:    log erfc(t) = p(t), p of degree 6, error of p times erfc(t) (the absolute error
                       it gives erf, over float32's 2^-24 near 1).
Needs numpy (e.g. the benchmark venv: ~/.cache/taugrad/torch-venv/bin/python tools/fit_erf.py).
"""
import math

import numpy as np

SPLIT = 0.927734375


def lawson(xs, f, degree, power, weight, iterations=200):
    """Coefficients c_0..c_degree of sum c_k power(x)^k minimizing max |weight(x) (sum - f(x))|."""
    a = np.array([[power(x) ** k for k in range(degree + 1)] for x in xs])
    y, w = np.array([f(x) for x in xs]), np.array([weight(x) for x in xs])
    lw = np.full(len(xs), 1.0 / len(xs))
    for _ in range(iterations):
        s = np.sqrt(lw) * w
        c = np.linalg.lstsq(a * s[:, None], y * s, rcond=None)[0]
        err = np.abs((a @ c - y) * w)
        lw = lw * err / np.sum(lw * err)
    return c, err.max()


def erf_over_x(x):
    """erf(x) / x from its series, without the cancellation of erf(x) / x - 1 near 0."""
    s, total, term = x * x, 0.0, 1.0
    for n in range(40):
        total += term / (2 * n + 1)
        term *= -s / (n + 1)
    return 2 / math.sqrt(math.pi) * total


def main():
    q, q_err = lawson(np.linspace(1e-4, SPLIT, 3000), lambda x: erf_over_x(x) - 1, 5, lambda x: x * x,
                      lambda x: 1 / erf_over_x(x))
    p, p_err = lawson(np.linspace(SPLIT, 4.0, 6000), lambda t: math.log(math.erfc(t)), 6, lambda t: t,
                      lambda t: math.erfc(t) / 2**-24)
    print(f"q (s^0 .. s^5), relative error {q_err:.2g}:", [str(np.float32(v)) for v in q])
    print(f"p (t^0 .. t^6), error x erfc in 2^-24 {p_err:.2g}:", [str(np.float32(v)) for v in p])


if __name__ == "__main__":
    main()
