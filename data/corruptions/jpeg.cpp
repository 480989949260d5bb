// The lossy round trip of baseline JPEG, as PIL's x.save(format='JPEG', quality=q) followed by
// Image.open does with libjpeg(-turbo) defaults. No entropy coding: Huffman coding is lossless, so
// only these steps change pixels:
//   1. RGB -> YCbCr (JFIF, jccolor.c), in 16-bit fixed point;
//   2. chroma subsampled 4:2:0 (PIL's default; jcsample.c h2v2_downsample: the 2x2 mean with the
//      alternating bias 1, 2), the image padded to whole MCUs by repeating its last row and column;
//   3. per 8x8 block: level shift by 128, DCT (libjpeg's integer "islow"), quantization by the standard luminance / chrominance
//      tables (ITU T.81 Annex K) scaled by quality as jcparam.c does (q < 50: 5000 / q, else
//      200 - 2q percent, rounded, clamped to 1..255), dequantization, inverse DCT, rounded to 8 bits;
//   4. chroma upsampled by libjpeg's default "fancy" triangle filter (jdsample.c h2v2_fancy_upsample);
//   5. YCbCr -> RGB (jdcolor.c), rounded and clamped.
// A one-channel image is coded as a grayscale JPEG (PIL mode 'L'): luminance table only.
// Integer arithmetic as libjpeg(-turbo)'s defaults (JDCT_ISLOW, fixed-point colour conversion), so
// the result matches PIL's save-and-reopen (measured: see the test and the report).
#include <algorithm>
#include <cmath>

#include "data/corruptions/common.h"
#include "util/error.h"

namespace tg::corruptions {

namespace {

const int kLuminance[64] = {16, 11, 10, 16, 24,  40,  51,  61,  12, 12, 14, 19, 26,  58,  60,  55,
                            14, 13, 16, 24, 40,  57,  69,  56,  14, 17, 22, 29, 51,  87,  80,  62,
                            18, 22, 37, 56, 68,  109, 103, 77,  24, 35, 55, 64, 81,  104, 113, 92,
                            49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99};
const int kChrominance[64] = {17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99,
                              24, 26, 56, 99, 99, 99, 99, 99, 47, 66, 99, 99, 99, 99, 99, 99,
                              99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
                              99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99};

// jcparam.c: jpeg_quality_scaling and jpeg_add_quant_table(force_baseline = TRUE).
std::vector<int> scaled_table(const int* base, int quality) {
  quality = std::clamp(quality, 1, 100);
  long scale = quality < 50 ? 5000 / quality : 200 - quality * 2;
  std::vector<int> q(64);
  for (int i = 0; i < 64; ++i) q[i] = int(std::clamp((base[i] * scale + 50) / 100, 1L, 255L));
  return q;
}

// A plane of 8-bit samples, its size a multiple of 8.
struct Plane {
  int h = 0, w = 0;
  std::vector<double> v;
  double& at(int y, int x) { return v[size_t(y) * w + x]; }
};

// libjpeg's accurate integer DCTs (jfdctint.c / jidctint.c, "islow"; the Loeffler-Ligtenberg-
// Moschytz algorithm with 13-bit constants), kept bit-exact: CONST_BITS 13, PASS1_BITS 2.
constexpr int kConstBits = 13, kPass1Bits = 2;
constexpr int64_t F0298 = 2446, F0390 = 3196, F0541 = 4433, F0765 = 6270, F0899 = 7373, F1175 = 9633,
                  F1501 = 12299, F1847 = 15137, F1961 = 16069, F2053 = 16819, F2562 = 20995, F3072 = 25172;

int64_t descale(int64_t x, int n) { return (x + (int64_t(1) << (n - 1))) >> n; }

// One 1-D forward pass over d[0], d[step], ... d[7 step]; `last` selects pass 2's scaling.
void fdct_1d(int64_t* d, int step, bool last) {
  int64_t d0 = d[0], d1 = d[step], d2 = d[2 * step], d3 = d[3 * step], d4 = d[4 * step], d5 = d[5 * step],
          d6 = d[6 * step], d7 = d[7 * step];
  int64_t tmp0 = d0 + d7, tmp7 = d0 - d7, tmp1 = d1 + d6, tmp6 = d1 - d6;
  int64_t tmp2 = d2 + d5, tmp5 = d2 - d5, tmp3 = d3 + d4, tmp4 = d3 - d4;
  int64_t tmp10 = tmp0 + tmp3, tmp13 = tmp0 - tmp3, tmp11 = tmp1 + tmp2, tmp12 = tmp1 - tmp2;
  int odd_shift = last ? kConstBits + kPass1Bits : kConstBits - kPass1Bits;
  d[0] = last ? descale(tmp10 + tmp11, kPass1Bits) : (tmp10 + tmp11) << kPass1Bits;
  d[4 * step] = last ? descale(tmp10 - tmp11, kPass1Bits) : (tmp10 - tmp11) << kPass1Bits;
  int64_t z1 = (tmp12 + tmp13) * F0541;
  d[2 * step] = descale(z1 + tmp13 * F0765, odd_shift);
  d[6 * step] = descale(z1 - tmp12 * F1847, odd_shift);
  z1 = tmp4 + tmp7;
  int64_t z2 = tmp5 + tmp6, z3 = tmp4 + tmp6, z4 = tmp5 + tmp7, z5 = (z3 + z4) * F1175;
  tmp4 *= F0298, tmp5 *= F2053, tmp6 *= F3072, tmp7 *= F1501;
  z1 *= -F0899, z2 *= -F2562, z3 *= -F1961, z4 *= -F0390;
  z3 += z5, z4 += z5;
  d[7 * step] = descale(tmp4 + z1 + z3, odd_shift);
  d[5 * step] = descale(tmp5 + z2 + z4, odd_shift);
  d[3 * step] = descale(tmp6 + z2 + z3, odd_shift);
  d[step] = descale(tmp7 + z1 + z4, odd_shift);
}

// One 1-D inverse pass: in[k * step] -> out[k * ostep], descaled by `shift`.
void idct_1d(const int64_t* in, int step, int64_t* out, int ostep, int shift) {
  int64_t z2 = in[2 * step], z3 = in[6 * step];
  int64_t z1 = (z2 + z3) * F0541;
  int64_t tmp2 = z1 - z3 * F1847, tmp3 = z1 + z2 * F0765;
  int64_t tmp0 = (in[0] + in[4 * step]) << kConstBits, tmp1 = (in[0] - in[4 * step]) << kConstBits;
  int64_t tmp10 = tmp0 + tmp3, tmp13 = tmp0 - tmp3, tmp11 = tmp1 + tmp2, tmp12 = tmp1 - tmp2;
  tmp0 = in[7 * step], tmp1 = in[5 * step], tmp2 = in[3 * step], tmp3 = in[step];
  z1 = tmp0 + tmp3, z2 = tmp1 + tmp2, z3 = tmp0 + tmp2;
  int64_t z4 = tmp1 + tmp3, z5 = (z3 + z4) * F1175;
  tmp0 *= F0298, tmp1 *= F2053, tmp2 *= F3072, tmp3 *= F1501;
  z1 *= -F0899, z2 *= -F2562, z3 *= -F1961, z4 *= -F0390;
  z3 += z5, z4 += z5;
  tmp0 += z1 + z3, tmp1 += z2 + z4, tmp2 += z2 + z3, tmp3 += z1 + z4;
  out[0] = descale(tmp10 + tmp3, shift), out[7 * ostep] = descale(tmp10 - tmp3, shift);
  out[ostep] = descale(tmp11 + tmp2, shift), out[6 * ostep] = descale(tmp11 - tmp2, shift);
  out[2 * ostep] = descale(tmp12 + tmp1, shift), out[5 * ostep] = descale(tmp12 - tmp1, shift);
  out[3 * ostep] = descale(tmp13 + tmp0, shift), out[4 * ostep] = descale(tmp13 - tmp0, shift);
}

// Every 8x8 block of `p` in place: forward DCT (rows, then columns), quantization as jcdctmgr.c
// does it (the DCT output is 8 times the true coefficient: divide by 8 Q, rounding half away from
// zero), dequantization, inverse DCT (columns, then rows), level shift, clamp.
void code_blocks(Plane& p, const std::vector<int>& q) {
  int64_t b[64], ws[64];
  for (int by = 0; by < p.h; by += 8)
    for (int bx = 0; bx < p.w; bx += 8) {
      for (int y = 0; y < 8; ++y)
        for (int x = 0; x < 8; ++x) b[y * 8 + x] = int64_t(p.at(by + y, bx + x)) - 128;
      for (int r = 0; r < 8; ++r) fdct_1d(b + r * 8, 1, false);
      for (int c = 0; c < 8; ++c) fdct_1d(b + c, 8, true);
      for (int i = 0; i < 64; ++i) {
        int64_t qval = int64_t(q[i]) * 8, t = b[i];
        int64_t level = t < 0 ? -((-t + qval / 2) / qval) : (t + qval / 2) / qval;
        b[i] = level * q[i];
      }
      for (int c = 0; c < 8; ++c) idct_1d(b + c, 8, ws + c, 8, kConstBits - kPass1Bits);
      for (int r = 0; r < 8; ++r) idct_1d(ws + r * 8, 1, b + r * 8, 1, kConstBits + kPass1Bits + 3);
      for (int y = 0; y < 8; ++y)
        for (int x = 0; x < 8; ++x) p.at(by + y, bx + x) = double(std::clamp<int64_t>(b[y * 8 + x] + 128, 0, 255));
    }
}

int round_up(int n, int m) { return (n + m - 1) / m * m; }

// A plane padded to multiples of `mcu` by repeating the last row and column (jcprepct.c).
Plane padded(const std::vector<double>& src, int h, int w, int mcu) {
  Plane p{round_up(h, mcu), round_up(w, mcu), {}};
  p.v.resize(size_t(p.h) * p.w);
  for (int y = 0; y < p.h; ++y)
    for (int x = 0; x < p.w; ++x) p.at(y, x) = src[size_t(std::min(y, h - 1)) * w + std::min(x, w - 1)];
  return p;
}

// jdsample.c h2v2_fancy_upsample: each output sample is 9/16, 3/16, 3/16, 1/16 of its 4 nearest
// input samples; rows above the first and below the last repeat the edge (the context rows of
// jdmainct.c), and the first and last columns use 4/4 of the edge column sum.
std::vector<double> fancy_upsample(Plane& c, int ch, int cw, int h, int w) {
  std::vector<double> out(size_t(h) * w);
  std::vector<int> colsum(cw);
  for (int oy = 0; oy < 2 * ch; ++oy) {
    int iy = oy / 2, near = std::clamp(oy % 2 == 0 ? iy - 1 : iy + 1, 0, ch - 1);
    for (int x = 0; x < cw; ++x) colsum[x] = 3 * int(c.at(iy, x)) + int(c.at(near, x));
    std::vector<int> row(2 * cw);
    if (cw == 1) {
      row[0] = (colsum[0] * 4 + 8) >> 4;
      row[1] = (colsum[0] * 4 + 7) >> 4;
    } else {
      row[0] = (colsum[0] * 4 + 8) >> 4;
      row[1] = (colsum[0] * 3 + colsum[1] + 7) >> 4;
      for (int x = 1; x < cw - 1; ++x) {
        row[2 * x] = (colsum[x] * 3 + colsum[x - 1] + 8) >> 4;
        row[2 * x + 1] = (colsum[x] * 3 + colsum[x + 1] + 7) >> 4;
      }
      row[2 * cw - 2] = (colsum[cw - 1] * 3 + colsum[cw - 2] + 8) >> 4;
      row[2 * cw - 1] = (colsum[cw - 1] * 4 + 7) >> 4;
    }
    if (oy < h)
      for (int x = 0; x < w; ++x) out[size_t(oy) * w + x] = row[x];
  }
  return out;
}

}  // namespace

Image jpeg_round_trip(const Image& x, int quality) {
  TG_CHECK(x.c == 1 || x.c == 3, "jpeg_round_trip: ", x.c, " channels; expected 1 or 3");
  size_t n = size_t(x.h) * x.w;
  auto to8 = [](double v) { return std::clamp(std::round(v * 255.0), 0.0, 255.0); };
  std::vector<int> ql = scaled_table(kLuminance, quality);
  Image out(x.c, x.h, x.w);
  if (x.c == 1) {
    std::vector<double> y(n);
    for (size_t i = 0; i < n; ++i) y[i] = to8(x.px[i]);
    Plane p = padded(y, x.h, x.w, 8);
    code_blocks(p, ql);
    for (int r = 0; r < x.h; ++r)
      for (int c = 0; c < x.w; ++c) out.at(0, r, c) = p.at(r, c) / 255.0;
    return out;
  }
  // jccolor.c rgb_ycc_convert: 16-bit fixed point, FIX(v) = round(v 2^16).
  auto fix = [](double v) { return int64_t(v * 65536 + 0.5); };
  const int64_t half = int64_t(1) << 15, offset = int64_t(128) << 16;
  std::vector<double> yp(n), cbp(n), crp(n);
  for (size_t i = 0; i < n; ++i) {
    int64_t r = int64_t(to8(x.px[i])), g = int64_t(to8(x.px[n + i])), b = int64_t(to8(x.px[2 * n + i]));
    yp[i] = double((fix(0.29900) * r + fix(0.58700) * g + fix(0.11400) * b + half) >> 16);
    cbp[i] = double((-fix(0.16874) * r - fix(0.33126) * g + fix(0.5) * b + offset + half - 1) >> 16);
    crp[i] = double((fix(0.5) * r - fix(0.41869) * g - fix(0.08131) * b + offset + half - 1) >> 16);
  }
  Plane py = padded(yp, x.h, x.w, 16);
  code_blocks(py, ql);
  // Chroma: the padded full-resolution plane averaged over 2x2 (bias 1, 2, 1, 2, ... by column).
  int ch = (x.h + 1) / 2, cw = (x.w + 1) / 2;
  std::vector<int> qc = scaled_table(kChrominance, quality);
  std::vector<double> chroma[2];
  for (int k = 0; k < 2; ++k) {
    Plane full = padded(k == 0 ? cbp : crp, x.h, x.w, 16);
    Plane half{full.h / 2, full.w / 2, std::vector<double>(size_t(full.h / 2) * (full.w / 2))};
    for (int r = 0; r < half.h; ++r)
      for (int c = 0; c < half.w; ++c) {
        int sum = int(full.at(2 * r, 2 * c) + full.at(2 * r, 2 * c + 1) + full.at(2 * r + 1, 2 * c) + full.at(2 * r + 1, 2 * c + 1));
        half.at(r, c) = (sum + 1 + (c & 1)) >> 2;
      }
    code_blocks(half, qc);
    chroma[k] = fancy_upsample(half, ch, cw, x.h, x.w);
  }
  // jdcolor.c ycc_rgb_convert, with its tables' fixed-point rounding.
  auto clamp8 = [](int64_t v) { return double(std::clamp<int64_t>(v, 0, 255)) / 255.0; };
  for (int r = 0; r < x.h; ++r)
    for (int c = 0; c < x.w; ++c) {
      size_t i = size_t(r) * x.w + c;
      int64_t yv = int64_t(py.at(r, c)), cb = int64_t(chroma[0][i]) - 128, cr = int64_t(chroma[1][i]) - 128;
      out.px[i] = clamp8(yv + ((fix(1.40200) * cr + half) >> 16));
      out.px[n + i] = clamp8(yv + ((-fix(0.34414) * cb + half - fix(0.71414) * cr) >> 16));
      out.px[2 * n + i] = clamp8(yv + ((fix(1.77200) * cb + half) >> 16));
    }
  return out;
}

}  // namespace tg::corruptions
