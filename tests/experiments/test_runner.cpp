#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>

#include "experiments/runner/flags.h"
#include "experiments/runner/results.h"
#include "util/error.h"
#include "support/scratch.h"

using namespace tg::runner;

TEST_CASE("flags: values, booleans, lists, errors that name the flag") {
  std::string dataset = "fashion_mnist";
  int64_t epochs = 5;
  double tau = 1.0;
  bool resume = true;
  std::vector<double> taus = {1, 50};
  Flags f("train", "test");
  f.add("dataset", &dataset, "dataset");
  f.add("epochs", &epochs, "epochs");
  f.add("tau", &tau, "temperature");
  f.add("resume", &resume, "resume");
  f.add("taus", &taus, "temperatures");
  const char* argv[] = {"train", "--dataset", "cifar10", "--epochs=3", "--tau", "0.5", "--no-resume", "--taus", "0.1,1,100"};
  std::vector<std::string> set;
  CHECK(f.parse(9, const_cast<char**>(argv), &set));
  CHECK(dataset == "cifar10");
  CHECK(epochs == 3);
  CHECK(tau == 0.5);
  CHECK(!resume);
  CHECK(taus == std::vector<double>{0.1, 1, 100});
  CHECK(set.size() == 5);
  const char* bad1[] = {"train", "--epoch", "3"};
  CHECK_THROWS_WITH_AS(f.parse(3, const_cast<char**>(bad1)), doctest::Contains("unknown flag --epoch"), tg::Error);
  const char* bad2[] = {"train", "--epochs", "three"};
  CHECK_THROWS_WITH_AS(f.parse(3, const_cast<char**>(bad2)), doctest::Contains("--epochs expects an integer"), tg::Error);
  const char* bad3[] = {"train", "--tau"};
  CHECK_THROWS_WITH_AS(f.parse(2, const_cast<char**>(bad3)), doctest::Contains("--tau needs a value"), tg::Error);
  CHECK(f.help().find("--taus") != std::string::npos);
}

TEST_CASE("results: JSON round trip, atomic writes, tables") {
  Json j = Json::object();
  j.set("name", "run \"a\"").set("acc", 91.25).set("epochs", int64_t{5}).set("ok", true).set("nan", NAN);
  Json arr = Json::array();
  arr.push(1).push("x");
  j.set("list", arr);
  Json back = Json::parse(j.dump(), "mem");
  CHECK(back.get("name")->string() == "run \"a\"");
  CHECK(back.get("acc")->number() == 91.25);
  CHECK(back.get("ok")->boolean());
  CHECK(back.get("nan")->is_null());
  CHECK(back.get("list")->items().size() == 2);
  // Strict (RFC 8259), with errors that say where.
  auto parse_error = [](const std::string& text) {
    try {
      Json::parse(text, "cfg.json");
    } catch (const tg::Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK(parse_error("{\"a\": 1,}").find("cfg.json, byte offset 8: expected a quoted key") != std::string::npos);
  CHECK(parse_error("{\"a\": 1, \"a\": 2}").find("byte offset 9: duplicate key \"a\"") != std::string::npos);
  CHECK(parse_error("[1, 2] 3").find("unexpected text after the JSON value") != std::string::npos);
  CHECK(parse_error("\"tab\there\"").find("control character") != std::string::npos);
  CHECK(parse_error("[01]").find("expected ']', found '1'") != std::string::npos);
  CHECK(parse_error("{\"a\": tru}").find("unexpected character 't'") != std::string::npos);
  // Numbers keep their digits (exact integers past 2^53), values their offsets; escapes decode to UTF-8.
  Json parsed = Json::parse(" {\"n\": 18446744073709551615, \"s\": \"\\u00e9\\ud83d\\ude00\"}", "mem", 100);
  CHECK(parsed.get("n")->number_text() == "18446744073709551615");
  CHECK(parsed.get("n")->offset() == 107);
  CHECK(parsed.get("s")->string() == "\xc3\xa9\xf0\x9f\x98\x80");
  auto dir = tg::test::scratch_path("taugrad_test_results");
  make_dirs(dir.string());
  write_file_atomic((dir / "m.json").string(), j.dump());
  CHECK(!file_exists((dir / "m.json.tmp").string()));
  CHECK(Json::parse(read_file((dir / "m.json").string()), "m").get("epochs")->number() == 5);
  std::filesystem::remove_all(dir);
  std::string md = markdown_table({"tau", "acc"}, {{"1", "91.2"}, {"50", "90.0"}});
  CHECK(md.find("| tau | acc  |") != std::string::npos);
  CHECK(csv_table({"a", "b"}, {{"1", "2"}}) == "a,b\n1,2\n");
}
