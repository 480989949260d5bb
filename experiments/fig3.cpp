// fig3: the paper's Fig. 3, Fig. 2 for the ViT (table2's runs); experiments/runner/fig23.h.
#include "experiments/runner/fig23.h"

int main(int argc, char** argv) { return tg::runner::figure_main(tg::runner::fig3_spec(), argc, argv); }
