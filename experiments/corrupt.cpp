// corrupt: writes a common-corruption test set (a "-C" set) for any dataset we load, in the official
// layout of CIFAR-10-C: in --out, one <corruption>.npy per corruption, uint8 (S N, H, W, C) NHWC with
// the s-th listed severity in rows [N (s - 1), N s) (all 5 by default, as load_corrupted expects),
// labels.npy int64 (S N,), and preview.png: one image, rows the corruptions, columns the clean image
// and then the severities. Example (Fashion-MNIST-C from Debian's dataset-fashion-mnist):
//   corrupt --dataset fashion-mnist --out data/fashion-mnist-c
// Each (corruption, severity) has its own generator stream derived from --seed, so a set is the same
// whichever corruptions are listed, and the same on any thread count.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "data/corrupted.h"
#include "data/corruptions/corruptions.h"
#include "data/dataset.h"
#include "data/npy.h"
#include "data/tiny_imagenet.h"
#include "experiments/runner/flags.h"
#include "experiments/runner/progress.h"
#include "util/error.h"

using namespace tg;
using namespace tg::runner;

namespace {

std::vector<std::string> split(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

// "1-5", "1,3,5" or "2".
std::vector<int> parse_severities(const std::string& text) {
  std::vector<int> out;
  for (const auto& part : split(text)) {
    size_t dash = part.find('-');
    int lo = 0, hi = 0;
    try {
      lo = std::stoi(part.substr(0, dash));
      hi = dash == std::string::npos ? lo : std::stoi(part.substr(dash + 1));
    } catch (const std::exception&) {
      TG_FAIL("--severities: '", part, "' is not a severity or a range like 1-5");
    }
    TG_CHECK(1 <= lo && lo <= hi && hi <= 5, "--severities: '", part, "' is not within 1..5");
    for (int s = lo; s <= hi; ++s) out.push_back(s);
  }
  TG_CHECK(!out.empty(), "--severities: no severity given");
  return out;
}

// The preview grid: cells of `scale`-times enlarged images with a 2-pixel white border.
Tensor preview_grid(const std::vector<std::vector<Tensor>>& rows, int scale) {
  int64_t c = rows[0][0].size(0), h = rows[0][0].size(1), w = rows[0][0].size(2), gap = 2;
  int64_t nr = int64_t(rows.size()), nc = int64_t(rows[0].size());
  int64_t gh = nr * (h * scale + gap) + gap, gw = nc * (w * scale + gap) + gap;
  Tensor grid = Tensor::full({c, gh, gw}, 255, DType::u8);
  uint8_t* g = grid.data<uint8_t>();
  for (int64_t r = 0; r < nr; ++r)
    for (int64_t k = 0; k < nc; ++k) {
      const uint8_t* im = rows[r][k].data<uint8_t>();
      int64_t top = gap + r * (h * scale + gap), left = gap + k * (w * scale + gap);
      for (int64_t ch = 0; ch < c; ++ch)
        for (int64_t y = 0; y < h * scale; ++y)
          for (int64_t x = 0; x < w * scale; ++x)
            g[(ch * gh + top + y) * gw + left + x] = im[(ch * h + y / scale) * w + x / scale];
    }
  return grid;
}

}  // namespace

int main(int argc, char** argv) {
  std::string dataset = "fashion-mnist", data_dir, out, corruptions = "all", severities = "1-5";
  int64_t subset_n = 0, seed = 0, preview_index = 0;
  bool train = false;
  Flags flags("corrupt", "Writes a common-corruption (-C) set in the CIFAR-10-C .npy layout, with a preview grid.");
  flags.add("dataset", &dataset, "fashion-mnist | mnist | cifar10 | cifar100 | tiny-imagenet (64x64 constants)");
  flags.add("data-dir", &data_dir, "folder of the dataset (empty: its default)");
  flags.add("out", &out, "output folder (created); required");
  flags.add("corruptions", &corruptions, "comma list of corruptions, or 'all' (the 15 in benchmark order)");
  flags.add("severities", &severities, "severities: a range 1-5 or a list 1,3,5 (all 5 for load_corrupted)");
  flags.add("subset", &subset_n, "corrupt only N images drawn by --seed (0: the whole split)");
  flags.add("seed", &seed, "seed of the corruptions and of --subset");
  flags.add("train", &train, "corrupt the training split instead of the test split");
  flags.add("preview-index", &preview_index, "the image shown in preview.png");
  try {
    if (!flags.parse(argc, argv)) return 0;
    TG_CHECK(!out.empty(), "--out: give the folder to write the set to");
    std::vector<std::string> all = corruption_names(), names = corruptions == "all" ? all : split(corruptions);
    for (const auto& n : names)
      TG_CHECK(std::find(all.begin(), all.end(), n) != all.end(), "--corruptions: unknown corruption '", n, "'");
    std::vector<int> sev = parse_severities(severities);

    Dataset data;
    ImageKind kind = ImageKind::cifar32;
    if (dataset == "tiny-imagenet") {
      data = load_tiny_imagenet(data_dir, train);
      kind = ImageKind::tiny64;
    } else {
      data = load_dataset(dataset, data_dir, train);
    }
    if (subset_n > 0) data = subset(data, subset_n, uint64_t(seed));
    TG_CHECK(data.images.dtype() == DType::u8, "corrupt: ", data.name, " is not uint8 pixels");
    int64_t n = data.size(), s_count = int64_t(sev.size());
    TG_CHECK(preview_index >= 0 && preview_index < n, "--preview-index: ", preview_index, " is not in [0, ", n, ")");
    std::filesystem::create_directories(out);
    std::printf("corrupt: %s, %lld images %lldx%lldx%lld, %zu corruptions x %lld severities -> %s\n",
                data.name.c_str(), (long long)n, (long long)data.channels(), (long long)data.height(),
                (long long)data.width(), names.size(), (long long)s_count, out.c_str());

    Tensor labels = Tensor::empty({s_count * n}, DType::i64);
    for (int64_t k = 0; k < s_count; ++k) labels.slice_rows(k * n, (k + 1) * n).copy_(data.labels);
    save_npy(out + "/labels.npy", labels);

    Tensor clean = data.images.slice_rows(preview_index, preview_index + 1).reshape(
        {data.channels(), data.height(), data.width()}).clone();
    std::vector<std::vector<Tensor>> grid;
    Progress progress("corrupt", int64_t(names.size()) * s_count, n);
    int64_t step = 0;
    for (const auto& name : names) {
      int64_t index = std::find(all.begin(), all.end(), name) - all.begin();
      Tensor set = Tensor::empty({s_count * n, data.channels(), data.height(), data.width()}, DType::u8);
      grid.push_back({clean});
      for (int64_t k = 0; k < s_count; ++k) {
        // Stream of (corruption, severity): 2^40 Philox blocks apart, one block per image.
        Generator gen;
        gen.set_state(uint64_t(seed), (uint64_t(index) * 5 + uint64_t(sev[k] - 1)) << 40);
        Tensor part = corrupt_batch(data.images, name, sev[k], gen, kind);
        set.slice_rows(k * n, (k + 1) * n).copy_(part);
        grid.back().push_back(part.slice_rows(preview_index, preview_index + 1)
                                  .reshape({data.channels(), data.height(), data.width()}).clone());
        progress.update(++step, name + " s" + std::to_string(sev[k]));
      }
      save_npy(out + "/" + name + ".npy", nchw_to_nhwc(set));
    }
    progress.finish();
    int scale = data.height() <= 32 ? 4 : 2;
    write_png(out + "/preview.png", preview_grid(grid, scale));
    std::printf("wrote %zu .npy files, labels.npy and preview.png (rows: %s; columns: clean, then severities %s)\n",
                names.size(), corruptions.c_str(), severities.c_str());
  } catch (const Error& e) {
    std::fprintf(stderr, "corrupt: %s\n", e.what());
    return 1;
  }
  return 0;
}
