// JSON values: built in order and dumped (configs, metrics, safetensors headers), and parsed strictly
// (RFC 8259: no comments, no trailing commas, no duplicate keys, no control characters in strings).
// One implementation for the whole project: the safetensors reader and the result files use it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace tg {

class Json {
 public:
  enum class Kind { null, boolean, number, string, array, object };

  Json() = default;  // null
  Json(bool b);
  Json(int v) : Json(static_cast<double>(v)) {}
  Json(int64_t v) : Json(static_cast<double>(v)) {}
  Json(double v);
  Json(const char* s) : Json(std::string(s)) {}
  Json(std::string s);
  static Json array();
  static Json object();

  Json& set(const std::string& key, Json value);  // objects; replaces an existing key
  Json& push(Json value);                          // arrays
  const Json* get(const std::string& key) const;   // objects; nullptr when absent
  // Compact on one line when indent is 0, else one member per line indented by `indent` spaces.
  // Integers within 1e15 print as integers, other numbers with 10 significant digits; NaN and
  // infinities (which JSON lacks) as null.
  std::string dump(int indent = 2) const;

  // Parses one JSON document. Errors are tg::Error "<source>, byte offset N: <what>", N counted
  // from the start of `text` plus `base` (the text's own offset in a larger file).
  static Json parse(const std::string& text, const std::string& source, size_t base = 0);

  Kind kind() const { return kind_; }
  bool is_null() const { return kind_ == Kind::null; }
  double number() const;                 // a number, or NaN for null (as dump writes NaN)
  const std::string& string() const;
  bool boolean() const;
  // A parsed number as it was written (exact for integers beyond 2^53); "" for built numbers.
  const std::string& number_text() const { return text_; }
  size_t offset() const { return offset_; }  // where a parsed value starts (with `base`)
  const std::vector<Json>& items() const { return items_; }
  const std::vector<std::pair<std::string, Json>>& fields() const { return fields_; }

 private:
  void dump_to(std::string& out, int indent, int depth) const;
  Kind kind_ = Kind::null;
  bool bool_ = false;
  double number_ = 0;
  std::string string_, text_;
  size_t offset_ = 0;
  std::vector<Json> items_;
  std::vector<std::pair<std::string, Json>> fields_;
  friend class JsonParser;
};

// `s` as a JSON string literal, quotes included.
std::string json_quote(const std::string& s);

}  // namespace tg
