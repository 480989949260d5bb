// fig6: Fig. 6: distance and cosine between f(x) and every prototype, for one sample
// (experiments/runner/prototype_figures.h says what it computes; --help lists the flags).
#include "experiments/runner/prototype_figures.h"

int main(int argc, char** argv) { return tg::runner::figure_main(tg::runner::fig6_spec(), argc, argv); }
