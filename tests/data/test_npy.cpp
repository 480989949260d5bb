// NumPy .npy: round trips of every dtype and shape, the exact bytes numpy 1.24 writes, headers of
// versions 2 and 3, big-endian data, row ranges, and broken files (Fortran order, bad dicts,
// truncation), each failing with an error that names the file.
#include <doctest/doctest.h>

#include <cstring>

#include "data/npy.h"
#include "data_test_util.h"

using namespace tg;
using namespace tg::testing;

namespace {

// A .npy file from a header dict and data bytes: version 1 (2-byte length) or 2/3 (4-byte length).
std::vector<uint8_t> npy_bytes(const std::string& dict, const std::vector<uint8_t>& data, int version = 1) {
  std::string header = dict;
  size_t pre = version == 1 ? 10 : 12;
  header.append((64 - (pre + header.size() + 1) % 64) % 64, ' ');
  header += '\n';
  std::vector<uint8_t> v = {0x93, 'N', 'U', 'M', 'P', 'Y', uint8_t(version), 0};
  size_t n = header.size();
  for (size_t i = 0; i < (version == 1 ? 2u : 4u); ++i) v.push_back(uint8_t(n >> (8 * i)));
  for (char c : header) v.push_back(uint8_t(c));
  v.insert(v.end(), data.begin(), data.end());
  return v;
}

template <class T>
std::vector<uint8_t> raw(const std::vector<T>& values) {
  std::vector<uint8_t> v(values.size() * sizeof(T));
  std::memcpy(v.data(), values.data(), v.size());
  return v;
}

}  // namespace

TEST_CASE("npy: round trip of every dtype and shape, and numpy's exact bytes") {
  TempDir dir("npy_good");
  std::vector<Tensor> cases = {
      Tensor::from_vector<float>({0, 1, 2, 3, 4, 5}, {2, 3}),
      Tensor::from_vector<double>({1e-300, -2.5}, {2}),
      Tensor::from_vector<int32_t>({-5, 7, 9, 11}, {1, 2, 2}),
      Tensor::from_vector<int64_t>({int64_t(1) << 50}, {}),
      Tensor::from_vector<uint8_t>({0, 255, 3}, {3, 1, 1, 1}),
      Tensor::zeros({0, 3}),
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    std::string p = (dir / "a").string() + std::to_string(i) + ".npy";
    save_npy(p, cases[i]);
    CHECK(read_bytes(p).size() % 64 == cases[i].nbytes() % 64);  // the data starts at a multiple of 64
    Tensor back = load_npy(p);
    CHECK(back.shape() == cases[i].shape());
    CHECK(back.dtype() == cases[i].dtype());
    CHECK(std::memcmp(back.raw(), cases[i].raw(), back.nbytes()) == 0);
  }
  // numpy.save(np.arange(6, dtype='<f4').reshape(2, 3)), byte for byte (numpy 1.24.2).
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
  header.append(118 - header.size() - 1, ' ');
  header += '\n';
  std::vector<uint8_t> expect = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, 118, 0};
  expect.insert(expect.end(), header.begin(), header.end());
  auto data = raw<float>({0, 1, 2, 3, 4, 5});
  expect.insert(expect.end(), data.begin(), data.end());
  CHECK(read_bytes((dir / "a0.npy").string()) == expect);
}

TEST_CASE("npy: versions 2 and 3, big-endian, bool, row ranges") {
  TempDir dir("npy_versions");
  std::string p2 = (dir / "v2.npy").string(), p3 = (dir / "v3.npy").string();
  write_bytes(p2, npy_bytes("{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }", raw<int64_t>({4, -5, 6}), 2));
  CHECK(load_npy(p2).to_vector<int64_t>() == std::vector<int64_t>{4, -5, 6});
  CHECK(read_npy_header(p2).version == 2);
  write_bytes(p3, npy_bytes("{'shape': (2,2), 'fortran_order': False, 'descr': '>i4'}", {0, 0, 1, 2, 255, 255, 255, 254, 0, 0, 0, 0, 0, 0, 0, 1}, 3));
  Tensor t = load_npy(p3);
  CHECK(t.shape() == Shape{2, 2});
  CHECK(t.to_vector<int32_t>() == std::vector<int32_t>{258, -2, 0, 1});
  std::string pb = (dir / "bool.npy").string();
  write_bytes(pb, npy_bytes("{'descr': '|b1', 'fortran_order': False, 'shape': (2,), }", {1, 0}));
  CHECK(load_npy(pb).to_vector<uint8_t>() == std::vector<uint8_t>{1, 0});
  // Rows of an NHWC uint8 array, as a -C severity slice is read.
  Tensor big = Tensor::arange(5 * 2 * 2 * 3, DType::i64).to(DType::u8).reshape({5, 2, 2, 3});
  std::string pr = (dir / "rows.npy").string();
  save_npy(pr, big);
  Tensor rows = load_npy_rows(pr, 2, 4);
  CHECK(rows.shape() == Shape{2, 2, 2, 3});
  CHECK(rows.to_vector<uint8_t>()[0] == 24);
  CHECK_THROWS_WITH_AS(load_npy_rows(pr, 3, 6), doctest::Contains("out of range"), Error);
}

TEST_CASE("npy: broken files name the file and what is wrong") {
  TempDir dir("npy_bad");
  std::string p = (dir / "bad.npy").string();
  auto load = [&] { load_npy(p); };
  auto f4 = raw<float>({1, 2});
  write_bytes(p, {'P', 'K', 3, 4, 0, 0, 0, 0, 0, 0, 0});
  check_error(load, p, {"byte offset 0", "not a .npy file"});
  write_bytes(p, {0x93, 'N', 'U', 'M'});
  check_error(load, p, {"truncated"});
  write_bytes(p, npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", f4, 4));
  check_error(load, p, {"byte offset 6", "unsupported .npy version 4"});
  auto good = npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", f4);
  auto long_len = good;
  long_len[9] = 0x10;
  write_bytes(p, long_len);
  check_error(load, p, {"byte offset 8", "runs past the end"});
  write_bytes(p, npy_bytes("{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }", f4));
  check_error(load, p, {"fortran_order is True"});
  write_bytes(p, npy_bytes("{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }", f4));
  check_error(load, p, {"unsupported descr '<c8'"});
  write_bytes(p, npy_bytes("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }", f4));
  check_error(load, p, {"structured dtypes"});
  write_bytes(p, npy_bytes("{'descr': '<f4', 'fortran_order': False, }", f4));
  check_error(load, p, {"lacks 'shape'"});
  write_bytes(p, npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'extra': 1}", f4));
  check_error(load, p, {"unexpected key 'extra'"});
  write_bytes(p, npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2, -1), }", f4));
  check_error(load, p, {"non-negative integer"});
  write_bytes(p, npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2,) ", f4));
  check_error(load, p, {"expected '}'"});
  write_bytes(p, std::vector<uint8_t>(good.begin(), good.end() - 1));
  check_error(load, p, {"byte offset 135", "truncated: shape [2] of '<f4' needs 8 data bytes from offset 128, the file holds 7"});
  auto extra = good;
  extra.push_back(0);
  write_bytes(p, extra);
  check_error(load, p, {"byte offset 136", "1 unexpected trailing bytes"});
  check_error([&] { load_npy((dir / "missing.npy").string()); }, (dir / "missing.npy").string(), {"cannot read"});
}
