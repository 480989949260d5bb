// fig2: the paper's Fig. 2, t-SNE of a ResNet's penultimate features per training temperature, with the
// class separation of the features (5-NN accuracy, silhouette); experiments/runner/fig23.h.
#include "experiments/runner/fig23.h"

int main(int argc, char** argv) { return tg::runner::figure_main(tg::runner::fig2_spec(), argc, argv); }
