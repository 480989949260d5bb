#include "tensor/safetensors.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <thread>

#include "util/json.h"

namespace tg {

static_assert(std::endian::native == std::endian::little, "safetensors: a little-endian host is assumed");

// ---- atomic writes ---------------------------------------------------------------------------

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)) {
  static std::atomic<int> counter{0};
  tmp_path_ = path_ + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
  file_ = std::fopen(tmp_path_.c_str(), "wb");
  TG_CHECK(file_ != nullptr, "cannot write '", path_, "': cannot create '", tmp_path_, "': ",
           std::strerror(errno));
}

AtomicFile::~AtomicFile() {
  if (file_ == nullptr) return;  // committed
  std::fclose(file_);
  std::remove(tmp_path_.c_str());
}

void AtomicFile::write(const void* data, size_t bytes) {
  TG_CHECK(file_ != nullptr, "write to '", path_, "' after commit");
  TG_CHECK(bytes == 0 || std::fwrite(data, 1, bytes, file_) == bytes, "cannot write '", tmp_path_,
           "': ", std::strerror(errno));
}

// Test-only fault hook (tests/experiments/test_fault.cpp): with TAUGRAD_FAULT_PAUSE_BEFORE_RENAME set
// to a file name (e.g. checkpoint.safetensors), the commit of a file of that name says so on stderr
// and sleeps 60 s between writing the temporary file and renaming it, so a test can kill it there.
static void fault_pause_before_rename(const std::string& tmp_path, const std::string& path) {
  const char* name = std::getenv("TAUGRAD_FAULT_PAUSE_BEFORE_RENAME");
  if (name == nullptr || std::filesystem::path(path).filename() != name) return;
  std::fprintf(stderr, "TAUGRAD_FAULT: paused before renaming %s to %s\n", tmp_path.c_str(), path.c_str());
  std::fflush(stderr);
  std::this_thread::sleep_for(std::chrono::seconds(60));
}

void AtomicFile::commit() {
  TG_CHECK(file_ != nullptr, "commit of '", path_, "' twice");
  bool ok = std::fflush(file_) == 0 && ::fsync(::fileno(file_)) == 0;
  int err = errno;
  ok = std::fclose(file_) == 0 && ok;
  file_ = nullptr;
  if (ok) fault_pause_before_rename(tmp_path_, path_);
  if (ok && std::rename(tmp_path_.c_str(), path_.c_str()) == 0) return;
  if (ok) err = errno;
  std::remove(tmp_path_.c_str());
  TG_FAIL("cannot write '", path_, "': ", std::strerror(err));
}

namespace {

// ---- dtypes ----------------------------------------------------------------------------------

const char* file_dtype_name(DType t) {
  switch (t) {
    case DType::f32: return "F32";
    case DType::f64: return "F64";
    case DType::i32: return "I32";
    case DType::i64: return "I64";
    case DType::u8: return "U8";
    case DType::bf16: return "BF16";
  }
  return "?";
}

struct FileDType {
  DType loads_as;
  size_t size;  // bytes per element in the file
};

bool parse_file_dtype(const std::string& name, FileDType& out) {
  static const std::pair<const char*, FileDType> table[] = {
      {"F32", {DType::f32, 4}}, {"F64", {DType::f64, 8}}, {"I32", {DType::i32, 4}},
      {"I64", {DType::i64, 8}}, {"U8", {DType::u8, 1}},   {"BOOL", {DType::u8, 1}},
      {"F16", {DType::f32, 2}}, {"BF16", {DType::f32, 2}},
  };
  for (const auto& [n, d] : table)
    if (name == n) { out = d; return true; }
  return false;
}

// IEEE binary16 -> binary32, subnormals, infinities and NaNs included.
float half_to_float(uint16_t h) {
  uint32_t sign = uint32_t(h >> 15) << 31, exp = (h >> 10) & 0x1F, mant = h & 0x3FF;
  uint32_t bits;
  if (exp == 0x1F) {
    bits = sign | 0x7F800000u | (mant << 13);
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (mant << 13);
  } else if (mant == 0) {
    bits = sign;
  } else {  // subnormal: normalize
    int e = -1;
    do { mant <<= 1; ++e; } while ((mant & 0x400) == 0);
    bits = sign | uint32_t(112 - e) << 23 | ((mant & 0x3FF) << 13);
  }
  return std::bit_cast<float>(bits);
}

// ---- header fields ---------------------------------------------------------------------------

template <class... Args>
[[noreturn]] void fail_at(const std::string& path, uint64_t offset, const Args&... what) {
  TG_FAIL("safetensors file '", path, "', byte offset ", offset, ": ", what...);
}

uint64_t json_uint(const Json& v, const std::string& path, const std::string& what) {
  if (v.kind() != Json::Kind::number || v.number_text().empty() || v.number_text()[0] == '-' ||
      v.number_text().find_first_of(".eE") != std::string::npos)
    fail_at(path, v.offset(), what, " must be a non-negative integer");
  uint64_t x = 0;
  for (char c : v.number_text()) {
    uint64_t d = uint64_t(c - '0');
    if (x > (UINT64_MAX - d) / 10) fail_at(path, v.offset(), what, " is too large");
    x = x * 10 + d;
  }
  return x;
}

struct Entry {
  std::string name;
  std::string dtype;
  FileDType file_dtype{};
  Shape shape;
  uint64_t begin = 0, end = 0;
  size_t offset = 0;  // of the entry in the header, for errors
};

// One tensor's header entry {"dtype": ..., "shape": [...], "data_offsets": [b, e]}, checked.
Entry parse_entry(const std::string& key, const Json& v, const std::string& path) {
  auto fail = [&](uint64_t offset, const auto&... what) { fail_at(path, offset, what...); };
  Entry e;
  e.name = key;
  e.offset = v.offset();
  if (v.kind() != Json::Kind::object) fail(v.offset(), "tensor \"", key, "\" must be an object");
  const Json *dtype = nullptr, *shape = nullptr, *offsets = nullptr;
  for (const auto& [fk, fv] : v.fields()) {
    if (fk == "dtype") dtype = &fv;
    if (fk == "shape") shape = &fv;
    if (fk == "data_offsets") offsets = &fv;
  }
  if (!dtype || !shape || !offsets)
    fail(v.offset(), "tensor \"", key, "\" lacks ", !dtype ? "dtype" : !shape ? "shape" : "data_offsets");
  if (dtype->kind() != Json::Kind::string) fail(dtype->offset(), "tensor \"", key, "\": dtype must be a string");
  e.dtype = dtype->string();
  if (!parse_file_dtype(e.dtype, e.file_dtype))
    fail(dtype->offset(), "tensor \"", key, "\": unknown or unsupported dtype \"", e.dtype,
         "\" (supported: F32, F64, I32, I64, U8, BOOL, F16, BF16)");
  if (shape->kind() != Json::Kind::array) fail(shape->offset(), "tensor \"", key, "\": shape must be an array");
  // The product of the non-zero sizes stays within 2^48, so that no product of sizes (strides, a
  // row's elements) overflows, even in a shape with a zero size somewhere.
  uint64_t nonzero = 1;
  bool empty = false;
  for (const Json& s : shape->items()) {
    uint64_t d = json_uint(s, path, "tensor \"" + key + "\": a shape entry");
    if (d > (uint64_t(1) << 48) / nonzero) fail(s.offset(), "tensor \"", key, "\": shape too large");
    if (d == 0) empty = true;
    else nonzero *= d;
    e.shape.push_back(static_cast<int64_t>(d));
  }
  const uint64_t count = empty ? 0 : nonzero;
  if (offsets->kind() != Json::Kind::array || offsets->items().size() != 2)
    fail(offsets->offset(), "tensor \"", key, "\": data_offsets must be an array [begin, end]");
  e.begin = json_uint(offsets->items()[0], path, "tensor \"" + key + "\": data_offsets[0]");
  e.end = json_uint(offsets->items()[1], path, "tensor \"" + key + "\": data_offsets[1]");
  if (e.end < e.begin) fail(offsets->offset(), "tensor \"", key, "\": data_offsets end before begin");
  if (e.end - e.begin != count * e.file_dtype.size)
    fail(offsets->offset(), "tensor \"", key, "\": shape ", shape_str(e.shape), " of ", e.dtype, " needs ",
         count * e.file_dtype.size, " bytes, but data_offsets [", e.begin, ", ", e.end, ") hold ",
         e.end - e.begin);
  return e;
}

}  // namespace

// ---- writing ---------------------------------------------------------------------------------

void save_safetensors(const std::string& path, const StateDict& tensors,
                      const std::map<std::string, std::string>& metadata) {
  std::string header = "{";
  if (!metadata.empty()) {
    header += "\"__metadata__\":{";
    bool first = true;
    for (const auto& [k, v] : metadata) {
      if (!first) header += ',';
      header += json_quote(k) + ":" + json_quote(v);
      first = false;
    }
    header += "}";
  }
  uint64_t offset = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const auto& [name, t] = tensors[i];
    TG_CHECK(!name.empty() && name != "__metadata__", "save_safetensors '", path, "': tensor ", i,
             " has the reserved or empty name '", name, "'");
    TG_CHECK(t.defined(), "save_safetensors '", path, "': tensor '", name, "' is undefined");
    for (size_t j = 0; j < i; ++j)
      TG_CHECK(tensors[j].first != name, "save_safetensors '", path, "': duplicate name '", name, "'");
    std::string shape;
    for (size_t d = 0; d < t.shape().size(); ++d) {
      if (d > 0) shape += ',';
      shape += std::to_string(t.shape()[d]);
    }
    if (header.size() > 1) header += ",";
    header += json_quote(name) + ":{\"dtype\":\"" + file_dtype_name(t.dtype()) + "\",\"shape\":[" + shape +
              "],\"data_offsets\":[" + std::to_string(offset) + "," + std::to_string(offset + t.nbytes()) + "]}";
    offset += t.nbytes();
  }
  header += "}";
  header.append((8 - header.size() % 8) % 8, ' ');  // the data starts 8-byte aligned

  AtomicFile out(path);
  uint64_t n = header.size();
  out.write(&n, 8);
  out.write(header);
  for (const auto& [name, t] : tensors) {
    Tensor host = t.cpu();
    out.write(host.raw(), host.nbytes());
  }
  out.commit();
}

// ---- reading ---------------------------------------------------------------------------------

bool SafetensorsFile::contains(const std::string& name) const {
  for (const auto& [n, t] : tensors)
    if (n == name) return true;
  return false;
}

const Tensor& SafetensorsFile::at(const std::string& name) const {
  for (const auto& [n, t] : tensors)
    if (n == name) return t;
  TG_FAIL("safetensors file '", path, "' has no tensor named '", name, "'");
}

// ---- reading files and buffers ----------------------------------------------------------------

ByteReader ByteReader::open(const std::string& path, const std::string& what) {
  std::error_code ec;
  ByteReader r;
  r.name_ = path;
  r.size_ = std::filesystem::file_size(path, ec);
  TG_CHECK(!ec, "cannot read ", what, " '", path, "': ", ec.message());
  r.file_.reset(std::fopen(path.c_str(), "rb"), [](std::FILE* f) { if (f) std::fclose(f); });
  TG_CHECK(r.file_ != nullptr, "cannot open ", what, " '", path, "': ", std::strerror(errno));
  return r;
}

ByteReader ByteReader::memory(std::span<const uint8_t> bytes, std::string name) {
  ByteReader r;
  r.name_ = std::move(name);
  r.size_ = bytes.size();
  r.data_ = bytes.data();
  return r;
}

void ByteReader::read(uint64_t offset, void* dst, size_t n) const {
  TG_CHECK(offset <= size_ && n <= size_ - offset, "'", name_, "', byte offset ", offset, ": reading ", n,
           " bytes runs past the end of the file (", size_, " bytes)");
  if (n == 0) return;
  if (data_ != nullptr) {
    std::memcpy(dst, data_ + offset, n);
    return;
  }
  TG_CHECK(std::fseek(file_.get(), long(offset), SEEK_SET) == 0 && std::fread(dst, 1, n, file_.get()) == n,
           "'", name_, "', byte offset ", offset, ": read failed (file changed while reading?)");
}

namespace {

SafetensorsFile read_safetensors(const ByteReader& in) {
  const std::string& path = in.name();
  const uint64_t file_size = in.size();
  auto fail = [&](uint64_t offset, const auto&... what) { fail_at(path, offset, what...); };

  uint64_t n = 0;
  if (file_size < 8) fail(0, "truncated: the file has ", file_size, " bytes, less than the 8-byte header length");
  in.read(0, &n, 8);
  if (n > file_size - 8)
    fail(0, "header length ", n, " runs past the end of the file (", file_size, " bytes): truncated or not safetensors");
  if (n > (100u << 20)) fail(0, "header length ", n, " is over 100 MiB: not a safetensors file");
  std::string header(n, '\0');
  in.read(8, header.data(), n);
  if (n == 0 || header[0] != '{') fail(8, "the header does not start with '{': not a safetensors file");

  const Json root = Json::parse(header, "safetensors file '" + path + "'", 8);
  SafetensorsFile out;
  out.path = path;
  std::vector<Entry> entries;
  for (const auto& [key, v] : root.fields()) {
    if (key == "__metadata__") {
      if (v.kind() != Json::Kind::object) fail(v.offset(), "__metadata__ must be an object");
      for (const auto& [mk, mv] : v.fields()) {
        if (mv.kind() != Json::Kind::string)
          fail(mv.offset(), "__metadata__ value of \"", mk, "\" must be a string");
        out.metadata[mk] = mv.string();
      }
      continue;
    }
    entries.push_back(parse_entry(key, v, path));
  }

  // The byte ranges must tile the data region exactly: no gap, no overlap, nothing past the end.
  std::stable_sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) { return a.begin < b.begin; });
  uint64_t data_start = 8 + n, data_size = file_size - data_start, at = 0;
  for (const Entry& e : entries) {
    if (e.begin < at) fail(e.offset, "tensor \"", e.name, "\": data_offsets [", e.begin, ", ", e.end, ") overlap the previous tensor's (ending at ", at, ")");
    if (e.begin > at) fail(e.offset, "tensor \"", e.name, "\": a gap of ", e.begin - at, " bytes before its data_offsets [", e.begin, ", ", e.end, ")");
    if (e.end > data_size)
      fail(data_start + e.begin, "tensor \"", e.name, "\": data_offsets [", e.begin, ", ", e.end, ") run past the end of the file (",
           data_size, " data bytes): truncated");
    at = e.end;
  }
  if (at != data_size) fail(data_start + at, data_size - at, " trailing bytes after the last tensor");

  std::vector<uint16_t> halves;
  for (const Entry& e : entries) {
    Tensor t = Tensor::empty(e.shape, e.file_dtype.loads_as);
    size_t bytes = e.end - e.begin;
    void* dst = t.raw();
    if (e.file_dtype.size == 2) {
      halves.resize(bytes / 2);
      dst = halves.data();
    }
    in.read(data_start + e.begin, dst, bytes);
    if (e.file_dtype.size == 2) {
      float* p = t.data<float>();
      bool bf = e.dtype == "BF16";
      for (size_t i = 0; i < halves.size(); ++i) p[i] = bf ? bf16::from_bits(halves[i]).to_float() : half_to_float(halves[i]);
    }
    out.tensors.emplace_back(e.name, std::move(t));
    out.file_dtypes.push_back(e.dtype);
  }
  return out;
}

}  // namespace

SafetensorsFile load_safetensors(const std::string& path) { return read_safetensors(ByteReader::open(path, "safetensors file")); }

SafetensorsFile parse_safetensors(std::span<const uint8_t> bytes, const std::string& name) {
  return read_safetensors(ByteReader::memory(bytes, name));
}

}  // namespace tg
