// fig7: Fig. 7: box plots of the per-sample variance over the negative prototypes
// (experiments/runner/prototype_figures.h says what it computes; --help lists the flags).
#include "experiments/runner/prototype_figures.h"

int main(int argc, char** argv) { return tg::runner::figure_main(tg::runner::fig7_spec(), argc, argv); }
