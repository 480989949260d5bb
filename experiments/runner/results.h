// Result files (DESIGN.md §7): JSON objects built in order, written atomically (temporary file, then
// rename), CSV logs appended a row at a time, Markdown tables.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace tg::runner {

// A JSON value small enough for configs and metrics: null, bool, number, string, array, object
// (objects keep insertion order).
class Json {
 public:
  Json() = default;  // null
  Json(bool b);
  Json(int v) : Json(static_cast<double>(v)) {}
  Json(int64_t v) : Json(static_cast<double>(v)) {}
  Json(double v);
  Json(const char* s) : Json(std::string(s)) {}
  Json(std::string s);
  static Json array();
  static Json object();

  Json& set(const std::string& key, Json value);  // objects
  Json& push(Json value);                          // arrays
  const Json* get(const std::string& key) const;   // objects; nullptr when absent
  std::string dump(int indent = 2) const;

  // Parses JSON text (configs and metrics written by dump). Throws tg::Error naming `source` and the
  // byte offset on bad input.
  static Json parse(const std::string& text, const std::string& source);
  double number() const;
  const std::string& string() const;
  bool boolean() const;
  const std::vector<Json>& items() const { return items_; }
  const std::vector<std::pair<std::string, Json>>& fields() const { return fields_; }
  bool is_null() const { return kind_ == Kind::null; }

 private:
  enum class Kind { null, boolean, number, string, array, object };
  void dump_to(std::string& out, int indent, int depth) const;
  Kind kind_ = Kind::null;
  bool bool_ = false;
  double number_ = 0;
  std::string string_;
  std::vector<Json> items_;
  std::vector<std::pair<std::string, Json>> fields_;
  friend struct JsonParser;
};

// Writes `text` to `path` atomically (tg::AtomicFile: a temporary file renamed over `path`).
void write_file_atomic(const std::string& path, const std::string& text);
std::string read_file(const std::string& path);
bool file_exists(const std::string& path);
void make_dirs(const std::string& path);

// A Markdown table: header row, then rows of cells.
std::string markdown_table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows);
std::string csv_table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows);
std::string fixed(double v, int decimals);  // "12.34"; "nan" for NaN

}  // namespace tg::runner
