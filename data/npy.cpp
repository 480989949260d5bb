#include "data/npy.h"

#include <algorithm>
#include <cstring>

#include "tensor/safetensors.h"

namespace tg {

namespace {

// A parser for the header's Python dict literal. Offsets in errors are file offsets.
class DictParser {
 public:
  DictParser(const std::string& s, uint64_t base, const std::string& path) : s_(s), base_(base), path_(path) {}

  [[noreturn]] void fail(const std::string& what) const {
    // The header, quoted: at most 200 bytes of it (a hostile one may be 4 GiB).
    TG_FAIL(".npy file '", path_, "', byte offset ", base_ + pos_, ": ", what, " (header: ", s_.substr(0, 200),
            s_.size() > 200 ? "..." : "", ")");
  }
  void skip_space() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\n' || s_[pos_] == '\t')) ++pos_;
  }
  char peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }
  bool eat(char c) {
    skip_space();
    if (peek() != c) return false;
    ++pos_;
    return true;
  }
  void expect(char c) {
    if (!eat(c)) fail(std::string("expected '") + c + "'");
  }
  std::string string_literal() {
    skip_space();
    char q = peek();
    if (q != '\'' && q != '"') fail("expected a quoted string");
    size_t end = s_.find(q, pos_ + 1);
    if (end == std::string::npos) fail("unterminated string");
    std::string v = s_.substr(pos_ + 1, end - pos_ - 1);
    pos_ = end + 1;
    return v;
  }
  bool boolean() {
    skip_space();
    for (const char* w : {"True", "False"})
      if (s_.compare(pos_, std::strlen(w), w) == 0) {
        pos_ += std::strlen(w);
        return w[0] == 'T';
      }
    fail("expected True or False");
  }
  Shape shape_tuple() {
    expect('(');
    Shape shape;
    // The product of the non-zero sizes stays within 2^48, so that no product of sizes (the element
    // count, a row's bytes) overflows, even in a shape with a zero size somewhere.
    int64_t nonzero = 1;
    while (true) {
      skip_space();
      if (eat(')')) break;
      if (!(peek() >= '0' && peek() <= '9')) fail("expected a non-negative integer in the shape tuple");
      int64_t v = 0;
      while (peek() >= '0' && peek() <= '9') {
        v = v * 10 + (s_[pos_++] - '0');
        if (v > (int64_t(1) << 48)) fail("shape entry too large");
      }
      if (v != 0 && v > (int64_t(1) << 48) / nonzero) fail("the shape holds over 2^48 elements");
      if (v != 0) nonzero *= v;
      if (peek() == 'L') ++pos_;  // Python 2 long
      shape.push_back(v);
      if (eat(',')) continue;
      expect(')');
      break;
    }
    return shape;
  }
  bool at_end() {
    skip_space();
    return pos_ == s_.size();
  }

 private:
  const std::string& s_;
  uint64_t base_;
  const std::string& path_;
  size_t pos_ = 0;
};

bool parse_descr(const std::string& d, DType& dtype, bool& big) {
  if (d.size() != 3 || (d[0] != '<' && d[0] != '>' && d[0] != '|' && d[0] != '=')) return false;
  std::string code = d.substr(1);
  big = d[0] == '>';
  if (code == "f4") dtype = DType::f32;
  else if (code == "f8") dtype = DType::f64;
  else if (code == "i4") dtype = DType::i32;
  else if (code == "i8") dtype = DType::i64;
  else if (code == "u1" || code == "b1") dtype = DType::u8;
  else return false;
  return true;
}

const char* descr_of(DType t) {
  switch (t) {
    case DType::f32: return "<f4";
    case DType::f64: return "<f8";
    case DType::i32: return "<i4";
    case DType::i64: return "<i8";
    case DType::u8: return "|u1";
    case DType::bf16: TG_FAIL(".npy has no bfloat16 type: cast to float32 before saving");
  }
  return "?";
}

void swap_bytes(void* data, size_t count, size_t size) {
  auto* p = static_cast<uint8_t*>(data);
  for (size_t i = 0; i < count; ++i) std::reverse(p + i * size, p + (i + 1) * size);
}

}  // namespace

NpyHeader read_npy_header(const ByteReader& in) {
  const std::string& path = in.name();
  const uint64_t file_size = in.size();
  auto fail = [&](uint64_t offset, const auto&... what) {
    TG_FAIL(".npy file '", path, "', byte offset ", offset, ": ", what...);
  };
  uint8_t pre[12] = {};
  const size_t got = size_t(std::min<uint64_t>(file_size, sizeof pre));
  in.read(0, pre, got);
  if (got < 10 || std::memcmp(pre, "\x93NUMPY", 6) != 0)
    fail(0, got < 10 ? "truncated: too short for the .npy preamble" : "no \\x93NUMPY magic: not a .npy file");
  NpyHeader h;
  h.version = pre[6];
  if (h.version < 1 || h.version > 3) fail(6, "unsupported .npy version ", h.version, ".", int(pre[7]));
  uint64_t len, start;
  if (h.version == 1) {
    len = pre[8] | uint64_t(pre[9]) << 8;
    start = 10;
  } else {
    if (got < 12) fail(got, "truncated: too short for the version ", h.version, " header length");
    len = pre[8] | uint64_t(pre[9]) << 8 | uint64_t(pre[10]) << 16 | uint64_t(pre[11]) << 24;
    start = 12;
  }
  if (len > file_size - start) fail(8, "header length ", len, " runs past the end of the file (", file_size, " bytes)");
  std::string text(len, '\0');
  in.read(start, text.data(), len);
  h.data_offset = start + len;

  DictParser p(text, start, path);
  p.expect('{');
  bool has_descr = false, has_order = false, has_shape = false, fortran = false;
  while (!p.eat('}')) {
    std::string key = p.string_literal();
    p.expect(':');
    if (key == "descr") {
      p.skip_space();
      if (p.peek() == '[') p.fail("structured dtypes (a descr list) are not supported");
      h.descr = p.string_literal();
      if (!parse_descr(h.descr, h.dtype, h.big_endian))
        p.fail("unsupported descr '" + h.descr + "' (supported: <f4 <f8 <i4 <i8 |u1 |b1, either byte order)");
      has_descr = true;
    } else if (key == "fortran_order") {
      fortran = p.boolean();
      has_order = true;
    } else if (key == "shape") {
      h.shape = p.shape_tuple();
      has_shape = true;
    } else {
      p.fail("unexpected key '" + key + "'");
    }
    if (!p.eat(',')) {
      p.expect('}');
      break;
    }
  }
  if (!p.at_end()) p.fail("unexpected text after the header dict");
  if (!has_descr || !has_order || !has_shape)
    p.fail(std::string("the header lacks '") + (!has_descr ? "descr" : !has_order ? "fortran_order" : "shape") + "'");
  if (fortran)
    fail(start, "fortran_order is True: column-major arrays are not supported; save it in C order "
                "(numpy.ascontiguousarray) and write it again");
  uint64_t need = uint64_t(numel(h.shape)) * dtype_size(h.dtype), have = file_size - h.data_offset;
  if (have < need)
    fail(file_size, "truncated: shape ", shape_str(h.shape), " of '", h.descr, "' needs ", need,
         " data bytes from offset ", h.data_offset, ", the file holds ", have);
  if (have > need) fail(h.data_offset + need, have - need, " unexpected trailing bytes after the data of shape ", shape_str(h.shape));
  return h;
}

Tensor read_npy_rows(const ByteReader& in, const NpyHeader& h, int64_t begin, int64_t end) {
  const std::string& path = in.name();
  TG_CHECK(!h.shape.empty(), "load_npy_rows: '", path, "' holds a scalar, which has no rows");
  TG_CHECK(0 <= begin && begin <= end && end <= h.shape[0], "load_npy_rows: rows [", begin, ", ", end,
           ") out of range for '", path, "' of shape ", shape_str(h.shape));
  Shape shape = h.shape;
  shape[0] = end - begin;
  Tensor t = Tensor::empty(shape, h.dtype);
  size_t row = static_cast<size_t>(numel(h.shape) / std::max<int64_t>(h.shape[0], 1)) * dtype_size(h.dtype);
  in.read(h.data_offset + uint64_t(begin) * row, t.raw(), t.nbytes());
  if (h.big_endian) swap_bytes(t.raw(), static_cast<size_t>(t.numel()), dtype_size(h.dtype));
  return t;
}

namespace {

Tensor read_npy(const ByteReader& in) {
  NpyHeader h = read_npy_header(in);
  if (!h.shape.empty()) return read_npy_rows(in, h, 0, h.shape[0]);
  Tensor t = Tensor::empty({}, h.dtype);
  in.read(h.data_offset, t.raw(), t.nbytes());
  if (h.big_endian) swap_bytes(t.raw(), 1, dtype_size(h.dtype));
  return t;
}

}  // namespace

NpyHeader read_npy_header(const std::string& path) { return read_npy_header(ByteReader::open(path, ".npy file")); }

Tensor load_npy_rows(const std::string& path, int64_t begin, int64_t end) {
  ByteReader in = ByteReader::open(path, ".npy file");
  return read_npy_rows(in, read_npy_header(in), begin, end);
}

Tensor load_npy(const std::string& path) { return read_npy(ByteReader::open(path, ".npy file")); }

Tensor parse_npy(std::span<const uint8_t> bytes, const std::string& name) {
  return read_npy(ByteReader::memory(bytes, name));
}

void save_npy(const std::string& path, const Tensor& t) {
  TG_CHECK(t.defined(), "save_npy '", path, "': undefined tensor");
  std::string shape = "(";
  for (size_t i = 0; i < t.shape().size(); ++i) {
    if (i > 0) shape += ", ";
    shape += std::to_string(t.shape()[i]);
  }
  shape += t.shape().size() == 1 ? ",)" : ")";
  std::string header = std::string("{'descr': '") + descr_of(t.dtype()) + "', 'fortran_order': False, 'shape': " +
                       shape + ", }";
  size_t total = 10 + header.size() + 1;  // preamble, dict, '\n'
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  TG_CHECK(header.size() < 65536, "save_npy '", path, "': header too long for version 1.0");
  AtomicFile out(path);
  uint8_t pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, uint8_t(header.size() & 0xFF), uint8_t(header.size() >> 8)};
  out.write(pre, sizeof pre);
  out.write(header);
  Tensor host = t.cpu();
  out.write(host.raw(), host.nbytes());
  out.commit();
}

}  // namespace tg
