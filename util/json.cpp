#include "util/json.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <unordered_set>

#include "util/error.h"

namespace tg {

Json::Json(bool b) : kind_(Kind::boolean), bool_(b) {}
Json::Json(double v) : kind_(Kind::number), number_(v) {}
Json::Json(std::string s) : kind_(Kind::string), string_(std::move(s)) {}

Json Json::array() {
  Json j;
  j.kind_ = Kind::array;
  return j;
}

Json Json::object() {
  Json j;
  j.kind_ = Kind::object;
  return j;
}

Json& Json::set(const std::string& key, Json value) {
  TG_CHECK(kind_ == Kind::object, "Json::set: not an object");
  for (auto& [k, v] : fields_) {
    if (k == key) {
      v = std::move(value);
      return *this;
    }
  }
  fields_.emplace_back(key, std::move(value));
  return *this;
}

Json& Json::push(Json value) {
  TG_CHECK(kind_ == Kind::array, "Json::push: not an array");
  items_.push_back(std::move(value));
  return *this;
}

const Json* Json::get(const std::string& key) const {
  for (const auto& [k, v] : fields_)
    if (k == key) return &v;
  return nullptr;
}

double Json::number() const {
  TG_CHECK(kind_ == Kind::number || kind_ == Kind::null, "Json: not a number");
  return kind_ == Kind::null ? NAN : number_;
}

const std::string& Json::string() const {
  TG_CHECK(kind_ == Kind::string, "Json: not a string");
  return string_;
}

bool Json::boolean() const {
  TG_CHECK(kind_ == Kind::boolean, "Json: not a boolean");
  return bool_;
}

std::string json_quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

void Json::dump_to(std::string& out, int indent, int depth) const {
  auto newline = [&](int d) {
    if (indent > 0) out.append(1, '\n').append(static_cast<size_t>(indent * d), ' ');
  };
  switch (kind_) {
    case Kind::null: out += "null"; break;
    case Kind::boolean: out += bool_ ? "true" : "false"; break;
    case Kind::number: {
      if (!std::isfinite(number_)) {
        out += "null";
      } else if (number_ == std::floor(number_) && std::fabs(number_) < 1e15) {
        out += std::to_string(static_cast<long long>(number_));
      } else {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%.10g", number_);
        out += buf;
      }
      break;
    }
    case Kind::string: out += json_quote(string_); break;
    case Kind::array:
      out += '[';
      for (size_t i = 0; i < items_.size(); ++i) {
        if (i) out += indent > 0 ? "," : ", ";
        newline(depth + 1);
        items_[i].dump_to(out, indent, depth + 1);
      }
      if (!items_.empty()) newline(depth);
      out += ']';
      break;
    case Kind::object:
      out += '{';
      for (size_t i = 0; i < fields_.size(); ++i) {
        if (i) out += indent > 0 ? "," : ", ";
        newline(depth + 1);
        out += json_quote(fields_[i].first);
        out += ": ";
        fields_[i].second.dump_to(out, indent, depth + 1);
      }
      if (!fields_.empty()) newline(depth);
      out += '}';
      break;
  }
}

std::string Json::dump(int indent) const {
  std::string out;
  dump_to(out, indent, 0);
  return out + (indent > 0 ? "\n" : "");
}

// A recursive-descent parser of RFC 8259 JSON that says where it stopped.
class JsonParser {
 public:
  JsonParser(const std::string& s, const std::string& source, size_t base) : s_(s), source_(source), base_(base) {}

  Json document() {
    skip_space();
    Json v = value(0);
    skip_space();
    if (pos_ != s_.size()) fail("unexpected text after the JSON value");
    return v;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const { fail_at(pos_, what); }
  [[noreturn]] void fail_at(size_t pos, const std::string& what) const {
    TG_FAIL(source_, ", byte offset ", base_ + pos, ": ", what);
  }
  void skip_space() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r'))
      ++pos_;
  }
  char peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }
  void expect(char c) {
    if (pos_ >= s_.size()) fail(std::string("the JSON ends where '") + c + "' was expected");
    if (s_[pos_] != c) fail(std::string("expected '") + c + "', found '" + s_[pos_] + "'");
    ++pos_;
  }

  Json value(int depth) {
    if (depth > 64) fail("JSON nested too deeply");
    const size_t start = pos_;
    Json v = bare_value(depth);
    v.offset_ = base_ + start;
    return v;
  }

  Json bare_value(int depth) {
    const char c = peek();
    if (c == '{') {
      Json v = Json::object();
      ++pos_;
      skip_space();
      if (peek() == '}') { ++pos_; return v; }
      std::unordered_set<std::string> keys;  // for the duplicate check, linear in the keys
      while (true) {
        skip_space();
        const size_t key_pos = pos_;
        if (peek() != '"') fail("expected a quoted key");
        std::string key = string_literal();
        if (!keys.insert(key).second) fail_at(key_pos, "duplicate key \"" + key + "\"");
        skip_space();
        expect(':');
        skip_space();
        v.fields_.emplace_back(std::move(key), value(depth + 1));
        skip_space();
        if (peek() == ',') { ++pos_; continue; }
        expect('}');
        return v;
      }
    }
    if (c == '[') {
      Json v = Json::array();
      ++pos_;
      skip_space();
      if (peek() == ']') { ++pos_; return v; }
      while (true) {
        skip_space();
        v.items_.push_back(value(depth + 1));
        skip_space();
        if (peek() == ',') { ++pos_; continue; }
        expect(']');
        return v;
      }
    }
    if (c == '"') return Json(string_literal());
    if (c == '-' || (c >= '0' && c <= '9')) return number();
    for (const char* word : {"true", "false", "null"}) {
      if (s_.compare(pos_, std::strlen(word), word) == 0) {
        pos_ += std::strlen(word);
        return word[0] == 'n' ? Json() : Json(word[0] == 't');
      }
    }
    if (pos_ >= s_.size()) fail("the JSON ends where a JSON value was expected");
    fail(std::string("unexpected character '") + c + "' where a JSON value was expected");
  }

  Json number() {
    const size_t start = pos_;
    auto digits = [&] {
      const size_t d = pos_;
      while (peek() >= '0' && peek() <= '9') ++pos_;
      if (pos_ == d) fail("malformed number");
    };
    if (peek() == '-') ++pos_;
    if (peek() == '0') ++pos_; else digits();
    if (peek() == '.') { ++pos_; digits(); }
    if (peek() == 'e' || peek() == 'E') {
      ++pos_;
      if (peek() == '+' || peek() == '-') ++pos_;
      digits();
    }
    // strtod (the "C" locale: taugrad never sets another) gives +-inf or 0 out of range, as JSON allows.
    Json v(std::strtod(s_.substr(start, pos_ - start).c_str(), nullptr));
    v.text_ = s_.substr(start, pos_ - start);
    return v;
  }

  unsigned hex4() {
    if (pos_ + 4 > s_.size()) fail("truncated \\u escape");
    unsigned v = 0;
    for (int i = 0; i < 4; ++i) {
      const char h = s_[pos_++];
      v <<= 4;
      if (h >= '0' && h <= '9') v |= unsigned(h - '0');
      else if (h >= 'a' && h <= 'f') v |= unsigned(h - 'a' + 10);
      else if (h >= 'A' && h <= 'F') v |= unsigned(h - 'A' + 10);
      else fail("bad hex digit in \\u escape");
    }
    return v;
  }

  static void append_utf8(std::string& out, unsigned cp) {
    if (cp < 0x80) {
      out += char(cp);
    } else if (cp < 0x800) {
      out += char(0xC0 | (cp >> 6));
      out += char(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += char(0xE0 | (cp >> 12));
      out += char(0x80 | ((cp >> 6) & 0x3F));
      out += char(0x80 | (cp & 0x3F));
    } else {
      out += char(0xF0 | (cp >> 18));
      out += char(0x80 | ((cp >> 12) & 0x3F));
      out += char(0x80 | ((cp >> 6) & 0x3F));
      out += char(0x80 | (cp & 0x3F));
    }
  }

  std::string string_literal() {
    expect('"');
    std::string out;
    while (true) {
      if (pos_ >= s_.size()) fail("unterminated string");
      const char c = s_[pos_++];
      if (c == '"') return out;
      if (static_cast<unsigned char>(c) < 0x20) fail_at(pos_ - 1, "control character inside a string");
      if (c != '\\') { out += c; continue; }
      if (pos_ >= s_.size()) fail("unterminated string");
      const char e = s_[pos_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          unsigned cp = hex4();
          if (cp >= 0xD800 && cp < 0xDC00) {  // a surrogate pair
            if (s_.compare(pos_, 2, "\\u") != 0) fail("unpaired surrogate in \\u escape");
            pos_ += 2;
            const unsigned lo = hex4();
            if (lo < 0xDC00 || lo >= 0xE000) fail("bad low surrogate in \\u escape");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          } else if (cp >= 0xDC00 && cp < 0xE000) {
            fail("unpaired surrogate in \\u escape");
          }
          append_utf8(out, cp);
          break;
        }
        default: fail_at(pos_ - 1, std::string("unknown escape '\\") + e + "'");
      }
    }
  }

  const std::string& s_;
  const std::string& source_;
  size_t base_;
  size_t pos_ = 0;
};

Json Json::parse(const std::string& text, const std::string& source, size_t base) {
  return JsonParser(text, source, base).document();
}

}  // namespace tg
