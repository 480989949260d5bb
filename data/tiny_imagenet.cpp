// Tiny-ImageNet-200 and Tiny-ImageNet-C readers, and the image-file helpers: JPEG decoding by
// libjpeg-turbo, writing by stb_image_write (its implementation is compiled here, once for the
// whole library).
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include "data/tiny_imagenet.h"

#include <cstdio>  // before jpeglib.h, which uses FILE
#include <jpeglib.h>
#include <stb_image_write.h>

#include <algorithm>
#include <atomic>
#include <csetjmp>
#include <exception>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

#include "util/error.h"

namespace tg {

namespace fs = std::filesystem;

namespace {

constexpr const char* kHowToGet =
    "Download http://cs231n.stanford.edu/tiny-imagenet-200.zip and unzip it, then pass its folder "
    "(the one holding wnids.txt) with --data-dir";

std::string join(const std::string& dir, const std::string& file) {
  return dir.empty() || dir.back() == '/' ? dir + file : dir + "/" + file;
}

// The *.JPEG (any case of .jpeg / .jpg) files of a folder, sorted by name.
std::vector<std::string> jpegs_in(const std::string& dir) {
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    std::string ext = e.path().extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), ::tolower);
    if (ext == ".jpeg" || ext == ".jpg") files.push_back(e.path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

// Decodes `paths` into images [N, 3, 64, 64] with their labels, on `threads` worker threads (0: one
// per hardware thread). Worker t takes the next undecoded index from a shared counter and writes row
// i itself, so the result does not depend on the thread count. The first failing file (by index)
// stops the workers and its error (naming the file) is rethrown here.
Dataset decode_all(const std::string& name, const std::vector<std::string>& paths, const std::vector<int64_t>& labels,
                   const std::vector<std::string>& classes, int threads) {
  TG_CHECK(threads >= 0, name, ": the number of decoding threads must be >= 0 (0 = all), got ", threads);
  const int64_t n = int64_t(paths.size());
  Dataset d;
  d.name = name;
  d.images = Tensor::empty({n, 3, 64, 64}, DType::u8);
  d.labels = Tensor::from_vector<int64_t>(labels, {n});
  d.num_classes = int64_t(classes.size());
  d.class_names = classes;

  std::atomic<int64_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex error_mutex;
  int64_t error_index = n;
  std::exception_ptr error;
  auto work = [&] {
    for (int64_t i = next++; i < n && !failed; i = next++) {
      try {
        d.images.slice_rows(i, i + 1).copy_(read_image_rgb(paths[size_t(i)], 64, 64));
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (i < error_index) {
          error_index = i;
          error = std::current_exception();
        }
        failed = true;
      }
    }
  };
  int64_t count = threads > 0 ? threads : std::max<int64_t>(1, std::thread::hardware_concurrency());
  count = std::min(count, std::max<int64_t>(1, n));
  std::vector<std::thread> pool;
  for (int64_t t = 1; t < count; ++t) {
    try {
      pool.emplace_back(work);
    } catch (const std::system_error&) {  // no more threads to be had: decode with those running
      break;
    }
  }
  work();  // the calling thread is worker 0
  for (auto& t : pool) t.join();
  if (error) std::rethrow_exception(error);
  return d;
}

std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

std::vector<std::string> read_wnids(const std::string& dir) {
  std::string path = join(dir, "wnids.txt");
  TG_CHECK(fs::is_directory(dir), "Tiny-ImageNet-200 not found: no folder ", dir, ". ", kHowToGet);
  TG_CHECK(std::ifstream(path).good(), "Tiny-ImageNet-200: cannot read ", path, " (the class list). ", kHowToGet);
  return parse_wnids(read_text(path), path);
}

// The lines of `text` (split at '\n'), each passed to f(line, line_no) with line_no counted from 1.
template <class F>
void for_each_line(std::string_view text, F&& f) {
  for (int64_t line_no = 1; !text.empty(); ++line_no) {
    size_t end = text.find('\n');
    f(text.substr(0, end), line_no);
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
  }
}

int64_t class_index(const std::vector<std::string>& wnids, const std::string& wnid) {
  auto it = std::lower_bound(wnids.begin(), wnids.end(), wnid);
  return it != wnids.end() && *it == wnid ? int64_t(it - wnids.begin()) : -1;
}

}  // namespace

std::vector<std::string> parse_wnids(std::string_view text, const std::string& path) {
  std::vector<std::string> wnids;
  for_each_line(text, [&](std::string_view line, int64_t) {
    line = line.substr(0, line.find_last_not_of(" \t\r") + 1);
    if (!line.empty()) wnids.emplace_back(line);
  });
  TG_CHECK(!wnids.empty(), "Tiny-ImageNet-200: ", path, " lists no classes");
  std::sort(wnids.begin(), wnids.end());
  TG_CHECK(std::adjacent_find(wnids.begin(), wnids.end()) == wnids.end(), "Tiny-ImageNet-200: ", path,
           " lists a class twice");
  return wnids;
}

std::vector<std::pair<std::string, int64_t>> parse_val_annotations(std::string_view text, const std::string& ann,
                                                                  const std::vector<std::string>& wnids) {
  std::vector<std::pair<std::string, int64_t>> out;
  for_each_line(text, [&](std::string_view line, int64_t line_no) {
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) return;
    size_t tab1 = line.find('\t');
    std::string_view file = line.substr(0, tab1);
    TG_CHECK(tab1 != std::string_view::npos && !file.empty(), "Tiny-ImageNet-200: ", ann, ", line ", line_no,
             ": expected '<file>\\t<wnid>\\t...', got '", line, "'");
    TG_CHECK(file.find('/') == std::string_view::npos && file != "." && file != "..", "Tiny-ImageNet-200: ", ann,
             ", line ", line_no, ": the file name '", file, "' is not a plain name in val/images/");
    std::string_view wnid = line.substr(tab1 + 1);
    wnid = wnid.substr(0, wnid.find('\t'));
    wnid = wnid.substr(0, wnid.find_last_not_of(" \r") + 1);
    int64_t k = class_index(wnids, std::string(wnid));
    TG_CHECK(k >= 0, "Tiny-ImageNet-200: ", ann, ", line ", line_no, ": class ", wnid, " is not in wnids.txt");
    out.emplace_back(file, k);
  });
  TG_CHECK(!out.empty(), "Tiny-ImageNet-200: ", ann, " lists no images");
  return out;
}

Tensor read_image_rgb(const std::string& path, int expect_h, int expect_w) {
  std::ifstream f(path, std::ios::binary);
  TG_CHECK(f.good(), "read_image_rgb: cannot open ", path);
  std::vector<unsigned char> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  return decode_image_rgb(bytes, path, expect_h, expect_w);
}

namespace {

// libjpeg reports an error through error_exit, which must not return, and cannot throw (libjpeg is
// C: an exception may not unwind through it). It longjmps back to decode_jpeg with the message.
// Warnings (corrupt data that libjpeg would patch over with gray, a truncated file) count as errors:
// a damaged image is refused, not decoded into a wrong one.
struct JpegErrors {
  jpeg_error_mgr mgr;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

[[noreturn]] void jpeg_fail(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<JpegErrors*>(cinfo->err);
  cinfo->err->format_message(cinfo, err->message);
  std::longjmp(err->jump, 1);
}

void jpeg_message(j_common_ptr cinfo, int level) {
  if (level < 0) jpeg_fail(cinfo);  // a warning; levels >= 0 are trace messages
}

// A progressive JPEG may hold any number of scans, each a pass over the whole image: more than this
// is a hostile file (libjpeg-turbo's advice), not a photo.
constexpr int kMaxScans = 256;

void jpeg_limit_scans(j_common_ptr cinfo) {
  auto* d = reinterpret_cast<j_decompress_ptr>(cinfo);
  if (d->progressive_mode && d->input_scan_number > kMaxScans) {
    std::snprintf(reinterpret_cast<JpegErrors*>(cinfo->err)->message, JMSG_LENGTH_MAX,
                  "a progressive JPEG of over %d scans", kMaxScans);
    std::longjmp(reinterpret_cast<JpegErrors*>(cinfo->err)->jump, 1);
  }
}

// The largest image decoded without a size to expect: 2^26 pixels (8192 x 8192), 192 MiB of RGB.
constexpr uint64_t kMaxPixels = uint64_t(1) << 26;

// Decodes a JPEG into interleaved RGB (grayscale is repeated into the three channels). Returns ""
// or the reason it cannot. The size in the header is checked against expect_h x expect_w (when
// > 0) or kMaxPixels before libjpeg allocates anything for the image. No C++ object with a
// destructor lives in this frame across the longjmp.
std::string decode_jpeg(std::span<const uint8_t> bytes, int expect_h, int expect_w, std::vector<uint8_t>& rgb, int& h,
                        int& w) {
  jpeg_decompress_struct cinfo;
  JpegErrors err;
  jpeg_progress_mgr progress;
  cinfo.err = jpeg_std_error(&err.mgr);
  err.mgr.error_exit = jpeg_fail;
  err.mgr.emit_message = jpeg_message;
  err.message[0] = '\0';
  if (setjmp(err.jump) != 0) {
    jpeg_destroy_decompress(&cinfo);
    return err.message;
  }
  jpeg_create_decompress(&cinfo);
  progress.progress_monitor = jpeg_limit_scans;
  cinfo.progress = &progress;
  jpeg_mem_src(&cinfo, bytes.data(), static_cast<unsigned long>(bytes.size()));
  jpeg_read_header(&cinfo, TRUE);
  h = int(cinfo.image_height);
  w = int(cinfo.image_width);
  if ((expect_h > 0 && h != expect_h) || (expect_w > 0 && w != expect_w)) {
    jpeg_destroy_decompress(&cinfo);
    return "";  // the caller names the sizes
  }
  if (uint64_t(h) * uint64_t(w) > kMaxPixels) {
    std::snprintf(err.message, JMSG_LENGTH_MAX, "%d x %d pixels, over the limit of %llu", w, h,
                  static_cast<unsigned long long>(kMaxPixels));
    jpeg_destroy_decompress(&cinfo);
    return err.message;
  }
  cinfo.out_color_space = JCS_RGB;
  cinfo.dct_method = JDCT_ISLOW;
  jpeg_start_decompress(&cinfo);
  rgb.resize(size_t(h) * size_t(w) * 3);
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW row = rgb.data() + size_t(cinfo.output_scanline) * size_t(w) * 3;
    jpeg_read_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  return "";
}

}  // namespace

Tensor decode_image_rgb(std::span<const uint8_t> bytes, const std::string& path, int expect_h, int expect_w) {
  TG_CHECK(bytes.size() >= 2 && bytes[0] == 0xFF && bytes[1] == 0xD8, "read_image_rgb: cannot decode ", path, " (",
           bytes.size(), " bytes): not a JPEG (it does not start with the FF D8 marker)");
  std::vector<uint8_t> rgb;
  int h = 0, w = 0;
  std::string why = decode_jpeg(bytes, expect_h, expect_w, rgb, h, w);
  TG_CHECK(why.empty(), "read_image_rgb: cannot decode ", path, " (", bytes.size(), " bytes): ", why,
           "; the file is truncated or not a JPEG");
  if ((expect_h > 0 && h != expect_h) || (expect_w > 0 && w != expect_w))
    TG_FAIL("read_image_rgb: ", path, " is ", w, " x ", h, " pixels; expected ", expect_w, " x ", expect_h);
  Tensor out = Tensor::empty({3, h, w}, DType::u8);
  uint8_t* o = out.data<uint8_t>();
  for (int c = 0; c < 3; ++c)
    for (size_t i = 0; i < size_t(h) * size_t(w); ++i) o[size_t(c) * h * w + i] = rgb[i * 3 + c];
  return out;
}

namespace {

// uint8 [C, H, W] -> interleaved HWC bytes for stb_image_write.
std::vector<unsigned char> interleave(const Tensor& image, const char* op, const std::string& path) {
  TG_CHECK(image.dim() == 3 && image.dtype() == DType::u8 && (image.size(0) == 1 || image.size(0) == 3), op, ": ",
           path, ": expected uint8 [C, H, W] with C = 1 or 3, got ", dtype_name(image.dtype()), " ",
           shape_str(image.shape()));
  Tensor src = image.cpu();
  int64_t c = src.size(0), hw = src.size(1) * src.size(2);
  std::vector<unsigned char> out(size_t(c * hw));
  const uint8_t* s = src.data<uint8_t>();
  for (int64_t ch = 0; ch < c; ++ch)
    for (int64_t i = 0; i < hw; ++i) out[size_t(i * c + ch)] = s[ch * hw + i];
  return out;
}

}  // namespace

void write_png(const std::string& path, const Tensor& image) {
  std::vector<unsigned char> px = interleave(image, "write_png", path);
  int c = int(image.size(0)), h = int(image.size(1)), w = int(image.size(2));
  TG_CHECK(stbi_write_png(path.c_str(), w, h, c, px.data(), w * c) != 0, "write_png: cannot write ", path);
}

void write_jpeg(const std::string& path, const Tensor& image, int quality) {
  std::vector<unsigned char> px = interleave(image, "write_jpeg", path);
  int c = int(image.size(0)), h = int(image.size(1)), w = int(image.size(2));
  TG_CHECK(stbi_write_jpg(path.c_str(), w, h, c, px.data(), quality) != 0, "write_jpeg: cannot write ", path);
}

Dataset load_tiny_imagenet(const std::string& dir_in, bool train, int threads) {
  std::string dir = dir_in.empty() ? "./data/tiny-imagenet-200" : dir_in;
  std::vector<std::string> wnids = read_wnids(dir);
  std::vector<std::string> paths;
  std::vector<int64_t> labels;
  if (train) {
    for (size_t k = 0; k < wnids.size(); ++k) {
      std::string folder = join(dir, "train/" + wnids[k] + "/images");
      TG_CHECK(fs::is_directory(folder), "Tiny-ImageNet-200: no folder ", folder, " for class ", wnids[k],
               " of wnids.txt. ", kHowToGet);
      for (const auto& p : jpegs_in(folder)) {
        paths.push_back(p);
        labels.push_back(int64_t(k));
      }
    }
  } else {
    std::string ann = join(dir, "val/val_annotations.txt");
    TG_CHECK(std::ifstream(ann).good(), "Tiny-ImageNet-200: cannot read ", ann, " (the validation labels). ",
             kHowToGet);
    for (auto& [file, k] : parse_val_annotations(read_text(ann), ann, wnids)) {
      paths.push_back(join(dir, "val/images/" + file));
      labels.push_back(k);
    }
  }
  TG_CHECK(!paths.empty(), "Tiny-ImageNet-200: no training images under ", join(dir, "train"), ". ", kHowToGet);
  return decode_all(std::string("tiny-imagenet/") + (train ? "train" : "val"), paths, labels, wnids, threads);
}

Dataset load_tiny_imagenet_c(const std::string& dir, const std::string& corruption, int severity,
                             const std::vector<std::string>& classes, int threads) {
  std::string root = join(join(dir, corruption), std::to_string(severity));
  TG_CHECK(severity >= 1 && severity <= 5, "load_tiny_imagenet_c: severity ", severity, " is not in 1..5");
  TG_CHECK(fs::is_directory(root), "Tiny-ImageNet-C: no folder ", root,
           ". Download Tiny-ImageNet-C (https://zenodo.org/record/2536630) and pass the folder holding "
           "<corruption>/<severity>/<wnid>/ with --data-dir");
  std::vector<std::string> wnids;
  for (const auto& e : fs::directory_iterator(root))
    if (e.is_directory()) wnids.push_back(e.path().filename().string());
  std::sort(wnids.begin(), wnids.end());
  TG_CHECK(!wnids.empty(), "Tiny-ImageNet-C: ", root, " holds no class folders");
  // Folder k's label: k among its own folders, or its wnid's index among `classes`.
  const std::vector<std::string>& names = classes.empty() ? wnids : classes;
  TG_CHECK(std::is_sorted(names.begin(), names.end()), "Tiny-ImageNet-C: ", root, " is to be labelled by ",
           names.size(), " classes that are not sorted wnids (give the class_names of the Tiny-ImageNet test split, ",
           "load_dataset(\"tiny-imagenet\"))");
  std::vector<std::string> paths;
  std::vector<int64_t> labels;
  for (const std::string& wnid : wnids) {
    const auto it = std::lower_bound(names.begin(), names.end(), wnid);
    TG_CHECK(it != names.end() && *it == wnid, "Tiny-ImageNet-C: ", join(root, wnid), ": class ", wnid,
             " is not one of the ", names.size(), " classes of the test set");
    for (const auto& p : jpegs_in(join(root, wnid))) {
      paths.push_back(p);
      labels.push_back(it - names.begin());
    }
  }
  TG_CHECK(!paths.empty(), "Tiny-ImageNet-C: no JPEG images under ", root);
  return decode_all("tiny-imagenet-c/" + corruption + "/" + std::to_string(severity), paths, labels, names, threads);
}

Dataset load_tiny_imagenet_c(const std::string& dir, const std::string& corruption, int severity, int threads) {
  return load_tiny_imagenet_c(dir, corruption, severity, {}, threads);
}

}  // namespace tg
