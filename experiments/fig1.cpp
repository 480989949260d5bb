// fig1: Fig. 1 / Eq. 6 as numbers: the weights of the prototypes in dL/df at the training tau
// (experiments/runner/prototype_figures.h says what it computes; --help lists the flags).
#include "experiments/runner/prototype_figures.h"

int main(int argc, char** argv) { return tg::runner::figure_main(tg::runner::fig1_spec(), argc, argv); }
