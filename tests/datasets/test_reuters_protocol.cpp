// Reuters-21578 protocol on a synthetic 22-file corpus, and malformed SGML.
#include <gtest/gtest.h>

#include <cmath>

#include <fmt/format.h>

#include "datasets/datasets.h"
#include "tests/datasets/test_helpers.h"

namespace gq::data {
namespace {

using test::Bytes;
using test::TempDir;

Bytes to_bytes(const std::string& s) {
  return Bytes(s.begin(), s.end());
}

std::string doc(int newid, const std::string& split, const std::string& topics_attr,
                const std::vector<std::string>& topics, const std::string& title,
                const std::string& body) {
  std::string t;
  for (const auto& x : topics) t += "<D>" + x + "</D>";
  return fmt::format(
      "<REUTERS TOPICS=\"{}\" LEWISSPLIT=\"{}\" CGISPLIT=\"TRAINING-SET\" OLDID=\"1\" "
      "NEWID=\"{}\">\n<DATE>26-FEB-1987</DATE>\n<TOPICS>{}</TOPICS>\n<PLACES></PLACES>\n"
      "<TEXT>&#2;\n<TITLE>{}</TITLE>\n<DATELINE>CITY, Feb 26 - </DATELINE><BODY>{}\n Reuter\n"
      "&#3;</BODY></TEXT>\n</REUTERS>\n",
      topics_attr, split, newid, t, title, body);
}

// 22 files; documents go round-robin, then every file gets a NOT-USED filler document (NEWID
// 1000 + file index) so that none is empty.
void write_corpus(const std::filesystem::path& dir, const std::vector<std::string>& docs) {
  std::vector<std::string> files(22, "<!DOCTYPE lewis SYSTEM \"lewis.dtd\">\n");
  for (std::size_t i = 0; i < docs.size(); ++i) files[i % 22] += docs[i];
  for (int i = 0; i < 22; ++i) {
    files[std::size_t(i)] += doc(1000 + i, "NOT-USED", "YES", {"filler"}, "filler", "filler");
  }
  for (int i = 0; i < 22; ++i) {
    test::write_file(dir / fmt::format("reut2-{:03d}.sgm", i), to_bytes(files[std::size_t(i)]));
  }
}

std::vector<std::string> corpus() {
  std::vector<std::string> d;
  int id = 1;
  // Train single-label: grain x3, corn x2, wheat x2 (tie with corn: alphabetical -> corn first),
  // zinc x1.
  d.push_back(doc(id++, "TRAIN", "YES", {"grain"}, "GRAIN &lt;UP&gt;", "grain prices rose"));
  d.push_back(doc(id++, "TRAIN", "YES", {"grain"}, "Grain", "grain grain exports &amp; a b"));
  d.push_back(doc(id++, "TRAIN", "YES", {"grain"}, "more",
                  "M\xFC"
                  "ller said grain"));
  d.push_back(doc(id++, "TRAIN", "YES", {"wheat"}, "wheat", "wheat crop"));
  d.push_back(doc(id++, "TRAIN", "YES", {"wheat"}, "wheat", "wheat harvest 1987"));
  d.push_back(doc(id++, "TRAIN", "YES", {"corn"}, "corn", "corn crop"));
  d.push_back(doc(id++, "TRAIN", "YES", {"corn"}, "corn", "corn belt"));
  d.push_back(doc(id++, "TRAIN", "YES", {"zinc"}, "zinc", "zinc"));
  // Not counted: multi-label, TOPICS="NO", NOT-USED, no topics.
  d.push_back(doc(id++, "TRAIN", "YES", {"zinc", "lead"}, "zinc", "zinc lead"));
  d.push_back(doc(id++, "TRAIN", "YES", {"zinc", "tin"}, "zinc", "zinc tin"));
  d.push_back(doc(id++, "TRAIN", "NO", {"zinc"}, "zinc", "zinc"));
  d.push_back(doc(id++, "TRAIN", "YES", {"zinc"}, "zinc", "zinc"));  // zinc: 2, ties corn, wheat
  d.push_back(doc(id++, "NOT-USED", "YES", {"zinc"}, "zinc", "zinc"));
  d.push_back(doc(id++, "TRAIN", "YES", {}, "none", "nothing"));
  // Test.
  d.push_back(doc(id++, "TEST", "YES", {"wheat"}, "wheat", "wheat wheat wheat crop unknownword"));
  d.push_back(doc(id++, "TEST", "YES", {"zinc"}, "zinc", "zinc"));
  d.push_back(doc(id++, "TEST", "YES", {"grain", "corn"}, "grain", "grain corn"));
  d.push_back(doc(id++, "TEST", "BYPASS", {"grain"}, "grain", "grain"));
  d.push_back(doc(id++, "TEST", "YES", {"corn"}, "x", "9 7"));  // no vocabulary word
  return d;
}

TEST(ReutersProtocol, Tokenizer) {
  EXPECT_EQ(decode_sgml_entities("a &lt;b&gt; &amp; &#3;&#65;&quot; &bogus; &"),
            std::string("a <b> & \x03"
                        "A\" &bogus; &"));
  EXPECT_EQ(tokenize_reuters("U.S. Grain-exports &lt; 1987, M\xFCller it's a OK"),
            (std::vector<std::string>{"grain", "exports", "lt", "ller", "it", "ok"}));
}

TEST(ReutersProtocol, SyntheticCorpus) {
  TempDir tmp;
  write_corpus(tmp.path(), corpus());
  const TrainTest tt = load_reuters21578_all(tmp.path(), ReutersOptions{3, 1000});
  // Train single-label counts: grain 3, corn 2, wheat 2, zinc 2 -> top 3: grain, corn, wheat
  // (corn/wheat/zinc tie at 2, broken alphabetically).
  EXPECT_EQ(tt.train.class_names, (std::vector<std::string>{"grain", "corn", "wheat"}));
  EXPECT_EQ(tt.train.n, 7);
  EXPECT_EQ(tt.train.labels, (std::vector<std::int32_t>{0, 0, 0, 2, 2, 1, 1}));
  // Test: wheat doc, corn doc with no vocabulary word (zinc not a class; multi-label and BYPASS
  // dropped).
  EXPECT_EQ(tt.test.n, 2);
  EXPECT_EQ(tt.test.labels, (std::vector<std::int32_t>{2, 1}));
  // Vocabulary by document frequency over the 7 kept train docs, ties alphabetical. Every doc has
  // "reuter" (7); grain 3 (docs 1-3), corn/crop/wheat 2, then df 1 alphabetical. "a", "b", "lt",
  // "gt", digits are not tokens (1 letter / decoded entities / not letters).
  const auto& v = tt.train.feature_names;
  ASSERT_GE(v.size(), 6u);
  EXPECT_EQ(std::vector<std::string>(v.begin(), v.begin() + 6),
            (std::vector<std::string>{"reuter", "grain", "corn", "crop", "wheat", "belt"}));
  EXPECT_EQ(std::find(v.begin(), v.end(), "lt"), v.end());
  EXPECT_NE(std::find(v.begin(), v.end(), "ller"), v.end());  // 0xFC splits "Müller"
  EXPECT_EQ(tt.train.feature_dim, static_cast<int>(v.size()));
  // Test doc 0: wheat x4 (title + 3), crop x1, reuter x1 -> log(1+tf), L2-normalised.
  const auto col = [&](const std::string& w) {
    return std::size_t(std::find(v.begin(), v.end(), w) - v.begin());
  };
  const float* row = tt.test.features.data();
  const double a = std::log1p(4.0), b = std::log(2.0), n = std::sqrt(a * a + 2 * b * b);
  EXPECT_NEAR(row[col("wheat")], a / n, 1e-6);
  EXPECT_NEAR(row[col("crop")], b / n, 1e-6);
  EXPECT_NEAR(row[col("reuter")], b / n, 1e-6);
  // Test doc 1 has only "reuter" and "x" (1 letter): reuter -> 1.0.
  const float* row1 = row + tt.test.feature_dim;
  EXPECT_NEAR(row1[col("reuter")], 1.0, 1e-6);
  // Vocabulary cap.
  const Dataset small = load_reuters21578(tmp.path(), Split::train, ReutersOptions{2, 3});
  EXPECT_EQ(small.feature_names, (std::vector<std::string>{"reuter", "grain", "corn"}));
  EXPECT_EQ(small.class_names, (std::vector<std::string>{"grain", "corn"}));
  EXPECT_EQ(small.n, 5);
  // More topics than exist.
  EXPECT_DATA_ERROR(load_reuters21578(tmp.path(), Split::train, ReutersOptions{10, 10}),
                    "top_topics=10", "only 4 topics");
  EXPECT_THROW(load_reuters21578(tmp.path(), Split::train, ReutersOptions{0, 10}), gq::Error);
  // The same corpus from a .tar.xz.
  std::vector<std::pair<std::string, Bytes>> members;
  for (int i = 0; i < 22; ++i) {
    const auto name = fmt::format("reut2-{:03d}.sgm", i);
    members.emplace_back("reuters21578/" + name, test::read_bytes(tmp / name));
  }
  TempDir arc;
  test::write_tar(arc / "reuters21578.tar.xz", "xz", members);
  const TrainTest from_archive = load_reuters21578_all(arc.path(), ReutersOptions{3, 1000});
  EXPECT_EQ(from_archive.train.features, tt.train.features);
  EXPECT_EQ(from_archive.test.labels, tt.test.labels);
}

TEST(ReutersProtocol, UnterminatedReuters) {
  TempDir tmp;
  write_corpus(tmp.path(), corpus());
  // Drop the first </REUTERS> of reut2-005.sgm.
  const auto file = tmp / "reut2-005.sgm";
  std::string s;
  for (auto c : test::read_bytes(file)) s += static_cast<char>(c);
  const std::size_t open = s.find("<REUTERS");
  const std::size_t close = s.find("</REUTERS>");
  ASSERT_NE(close, std::string::npos);
  s.erase(close, 10);
  test::write_file(file, to_bytes(s));
  EXPECT_DATA_ERROR(load_reuters21578(tmp.path(), Split::train), "reut2-005.sgm",
                    "unterminated <REUTERS> element (NEWID 6)", fmt::format("byte offset {}", open),
                    "expected </REUTERS>", "the next <REUTERS> at byte offset");
  // Unterminated at the end of the file.
  s.assign("<REUTERS TOPICS=\"YES\" LEWISSPLIT=\"TRAIN\" NEWID=\"1\"><TEXT>abc");
  EXPECT_DATA_ERROR(parse_reuters_sgml(to_bytes(s), "r.sgm"), "r.sgm", "byte offset 0",
                    "end of file at byte offset");
}

TEST(ReutersProtocol, OtherMalformedSgml) {
  const std::string ok = doc(7, "TRAIN", "YES", {"grain"}, "t", "b");
  EXPECT_EQ(parse_reuters_sgml(to_bytes(ok), "ok.sgm").size(), 1u);
  EXPECT_DATA_ERROR(parse_reuters_sgml(to_bytes(ok + "</REUTERS>\n"), "s.sgm"), "s.sgm",
                    "</REUTERS> without a matching <REUTERS>",
                    fmt::format("byte offset {}", ok.size()));
  std::string bad = ok;
  bad.replace(bad.find("</TOPICS>"), 9, "");
  EXPECT_DATA_ERROR(parse_reuters_sgml(to_bytes(bad), "t.sgm"), "t.sgm",
                    "unterminated <TOPICS> element");
  bad = ok;
  bad.replace(bad.find("LEWISSPLIT=\"TRAIN\""), 18, "LEWISSPLIT=\"MAYBE\"");
  EXPECT_DATA_ERROR(parse_reuters_sgml(to_bytes(bad), "u.sgm"), "u.sgm", "LEWISSPLIT",
                    "found LEWISSPLIT=\"MAYBE\"");
  EXPECT_DATA_ERROR(parse_reuters_sgml(to_bytes("<!DOCTYPE lewis>\n"), "e.sgm"), "e.sgm",
                    "no documents");
  // Duplicate NEWID across files, and a missing file.
  TempDir tmp;
  write_corpus(tmp.path(), {ok, ok});
  EXPECT_DATA_ERROR(load_reuters21578(tmp.path(), Split::train), "reut2-001.sgm",
                    "duplicate NEWID 7", "reut2-000.sgm");
  std::filesystem::remove(tmp / "reut2-013.sgm");
  EXPECT_DATA_ERROR(load_reuters21578(tmp.path(), Split::train), "reut2-013.sgm", "not found");
  EXPECT_DATA_ERROR(load_reuters21578(tmp / "none", Split::train), "none", "not found");
}

}  // namespace
}  // namespace gq::data
