// eq10: Eq. 10 measured: the input gradient of CE at tau = 1 and how much of it points at the largest other class
// (experiments/runner/prototype_figures.h says what it computes; --help lists the flags).
#include "experiments/runner/prototype_figures.h"

int main(int argc, char** argv) { return tg::runner::figure_main(tg::runner::eq10_spec(), argc, argv); }
