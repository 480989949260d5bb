// fig5: Fig. 5: logits before and after PGD-20
// (experiments/runner/prototype_figures.h says what it computes; --help lists the flags).
#include "experiments/runner/prototype_figures.h"

int main(int argc, char** argv) { return tg::runner::figure_main(tg::runner::fig5_spec(), argc, argv); }
