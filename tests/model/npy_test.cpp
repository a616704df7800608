// .npy: the header byte for byte, the row writer against the reader, and numpy itself reading an
// embedding file sembed wrote (Debian's python3-numpy, when installed).
#include "model/npy.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "model/embedding_set.h"
#include "tests/model/model_fixtures.h"

namespace sembed {
namespace {

using test::read_text;
using test::ScratchDir;
using test::write_text;

// numpy's own words for a C-order float32 [3, 4] array (numpy.lib.format, version 1.0): magic,
// version 1.0, little-endian uint16 header length, the dict literal padded with spaces and ended
// by '\n' so that the whole header is a multiple of 64 bytes.
TEST(NpyTest, HeaderIsExactlyNumpys) {
  const std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }";
  ASSERT_EQ(dict.size(), 59u);
  // 10 (magic + version + length) + 59 + 1 ('\n') = 70 -> padded to 128: 58 spaces.
  std::string expected = std::string("\x93NUMPY\x01\x00", 8) + std::string("\x76\x00", 2);
  expected += dict + std::string(58, ' ') + "\n";
  ASSERT_EQ(expected.size(), 128u);
  EXPECT_EQ(npy_header("<f4", {3, 4}), expected);

  // One dimension: the tuple keeps its trailing comma.
  const std::string one = npy_header("|i1", {5});
  EXPECT_NE(one.find("'shape': (5,), }"), std::string::npos) << one;
  EXPECT_EQ(one.size() % 64, 0u);
  EXPECT_EQ(one.back(), '\n');
  // min_size pads further, in multiples of 64.
  EXPECT_EQ(npy_header("<f4", {3, 4}, 200).size(), 256u);
  EXPECT_EQ(npy_header("<f4", {3, 4}, 128).size(), 128u);
}

TEST(NpyTest, ParseHeader) {
  {  // what npy_header writes, and other writers' headers
    const NpyHeader h = parse_npy_header(npy_header("<f4", {7, 384}));
    EXPECT_EQ(h.descr, "<f4");
    EXPECT_FALSE(h.fortran_order);
    EXPECT_EQ(h.shape, (std::vector<int64_t>{7, 384}));
    EXPECT_EQ(h.data_offset, 128u);
    EXPECT_EQ(h.numel(), 7 * 384);
    // Version 2.0 (4-byte length) and a dict in another key order, as other writers produce.
    const std::string dict = "{'fortran_order': True, 'shape': (2, 3), 'descr': '<f4'}\n";
    std::string v2 = std::string("\x93NUMPY\x02\x00", 8);
    for (int i = 0; i < 4; ++i) v2.push_back(static_cast<char>((dict.size() >> (8 * i)) & 0xFF));
    const NpyHeader h2 = parse_npy_header(v2 + dict);
    EXPECT_TRUE(h2.fortran_order);
    EXPECT_EQ(h2.shape, (std::vector<int64_t>{2, 3}));
    EXPECT_EQ(h2.data_offset, 12 + dict.size());
  }

  {  // bad headers are refused
    const std::string good = npy_header("<f4", {3, 4});
    struct Case {
      std::string bytes;
      std::string message;
    };
    std::string bad_magic = good;
    bad_magic[1] = 'M';
    std::string bad_version = good;
    bad_version[6] = '\x04';
    std::string bad_dict = good;
    bad_dict.replace(bad_dict.find("False"), 5, "Maybe");
    std::string bad_key = good;
    bad_key.replace(bad_key.find("descr"), 5, "dtype");
    const std::vector<Case> cases = {{"", "bad magic"},
                                     {bad_magic, "bad magic"},
                                     {bad_version, "unsupported version 4"},
                                     {good.substr(0, 40), "truncated header"},
                                     {bad_dict, "True or False"},
                                     {bad_key, "unexpected header key 'dtype'"}};
    for (const auto& c : cases) {
      try {
        parse_npy_header(c.bytes);
        ADD_FAILURE() << "accepted: " << c.bytes;
      } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find(c.message), std::string::npos)
            << "expected '" << c.message << "' in: " << e.what();
      }
    }
  }
}

TEST(NpyTest, RowWriterAndReader) {
  {  // NpyRowWriter output reads back
    ScratchDir dir("npy");
    std::vector<float> values(5 * 3);
    for (size_t i = 0; i < values.size(); ++i) values[i] = 0.25f * static_cast<float>(i) - 1.0f;
    NpyRowWriter writer(dir.file("f.npy"), "<f4", 3);
    writer.append(values.data(), 2);
    writer.append(values.data() + 6, 3);
    EXPECT_EQ(writer.rows(), 5);
    writer.finish();
    const NpyMatrix m = read_npy_matrix(dir.file("f.npy"));
    EXPECT_EQ(m.rows, 5);
    EXPECT_EQ(m.cols, 3);
    EXPECT_EQ(m.data, values);
    const std::string bytes = read_text(dir.file("f.npy"));
    const NpyHeader h = parse_npy_header(bytes);
    EXPECT_EQ(h.data_offset % 64, 0u);
    EXPECT_EQ(bytes.size(), h.data_offset + values.size() * 4);

    const int8_t q[] = {127, -127, 0, 64, -1, 1};
    NpyRowWriter int8(dir.file("q.npy"), "|i1", 2);
    int8.append(q, 3);
    int8.finish();
    const NpyMatrix mq = read_npy_matrix(dir.file("q.npy"), 0.5f);
    EXPECT_EQ(mq.rows, 3);
    EXPECT_EQ(mq.data, (std::vector<float>{63.5f, -63.5f, 0.f, 32.f, -0.5f, 0.5f}));

    NpyRowWriter empty(dir.file("e.npy"), "<f4", 4);
    empty.finish();
    const NpyMatrix me = read_npy_matrix(dir.file("e.npy"));
    EXPECT_EQ(me.rows, 0);
    EXPECT_EQ(me.cols, 4);

    EXPECT_THROW(NpyRowWriter(dir.file("x.npy"), "<f8", 2), std::invalid_argument);
    EXPECT_THROW(NpyRowWriter(dir.file("absent/x.npy"), "<f4", 2), std::runtime_error);
  }

  {  // truncated and unsupported files are refused
    ScratchDir dir("npy");
    const std::vector<float> values = {1, 2, 3, 4, 5, 6};
    NpyRowWriter writer(dir.file("f.npy"), "<f4", 2);
    writer.append(values.data(), 3);
    writer.finish();
    const std::string bytes = read_text(dir.file("f.npy"));
    write_text(dir.file("cut.npy"), bytes.substr(0, bytes.size() - 4));
    try {
      read_npy_matrix(dir.file("cut.npy"));
      FAIL() << "a truncated file was accepted";
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find("cut.npy"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("truncated"), std::string::npos) << e.what();
    }
    write_text(dir.file("f8.npy"), npy_header("<f8", {1, 1}) + std::string(8, '\0'));
    EXPECT_THROW(read_npy_matrix(dir.file("f8.npy")), std::runtime_error);
    write_text(dir.file("3d.npy"), npy_header("<f4", {1, 1, 1}) + std::string(4, '\0'));
    EXPECT_THROW(read_npy_matrix(dir.file("3d.npy")), std::runtime_error);
    write_text(dir.file("1d.npy"), npy_header("<f4", {2}) + std::string(8, '\0'));
    const NpyMatrix column = read_npy_matrix(dir.file("1d.npy"));
    EXPECT_EQ(column.rows, 2);
    EXPECT_EQ(column.cols, 1);
  }
}

// Found by fuzz/fuzz_npy: shapes whose element or byte count overflows 64 bits wrapped around to
// a small (even zero) size that matched the file, then overflowed again when sizing the matrix;
// an empty array passed a null pointer to memcpy. All three are refused or handled now.
TEST(NpyTest, OverflowingShapesAreRefused) {
  ScratchDir dir("npy-overflow");
  // 2^33 * 2^31 elements: 2^64, which wrapped to 0 (an empty data section matched it).
  const std::string wraps = npy_header("|i1", {int64_t{1} << 33, int64_t{1} << 31});
  try {
    parse_npy_header(wraps);
    ADD_FAILURE() << "a shape of 2^64 elements was accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("shape too large"), std::string::npos) << e.what();
  }
  write_text(dir.file("wraps.npy"), wraps);
  EXPECT_THROW(read_npy_matrix(dir.file("wraps.npy")), std::runtime_error);
  // 2^62 float32 elements fit int64 but their 2^64 bytes do not.
  write_text(dir.file("bytes.npy"), npy_header("<f4", {int64_t{1} << 31, int64_t{1} << 31}));
  try {
    read_npy_matrix(dir.file("bytes.npy"));
    ADD_FAILURE() << "a file promising 2^64 bytes was accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("2^64"), std::string::npos) << e.what();
  }
  // Empty arrays of both dtypes read as empty matrices.
  for (const std::string descr : {"<f4", "|i1"}) {
    write_text(dir.file("empty.npy"), npy_header(descr, {0, 3}));
    const NpyMatrix m = read_npy_matrix(dir.file("empty.npy"));
    EXPECT_EQ(m.rows, 0);
    EXPECT_EQ(m.cols, 3);
    EXPECT_TRUE(m.data.empty());
  }
}

// ------------------------------------------------------------------------------------ numpy

constexpr const char* kPython = "/usr/bin/python3";  // Debian's, with python3-numpy

bool have_numpy() {
  return std::filesystem::exists(kPython) &&
         test::run_shell(std::string(kPython) + " -c 'import numpy'").exit_code == 0;
}

TEST(NpyTest, NumpyLoadsWhatSembedWrites) {
  if (!have_numpy()) GTEST_SKIP() << kPython << " has no numpy (apt-get install python3-numpy)";
  ScratchDir dir("npy-numpy");
  // numpy's header for the same array, byte for byte.
  const test::CommandResult header = test::run_shell(
      std::string(kPython) +
      " -c 'import io, sys, numpy; b = io.BytesIO(); numpy.save(b, numpy.zeros((3, 4), "
      "\"<f4\")); sys.stdout.buffer.write(b.getvalue()[:128])'");
  ASSERT_EQ(header.exit_code, 0) << header.err;
  EXPECT_EQ(header.out, npy_header("<f4", {3, 4}));

  const auto texts = test::sample_texts();
  test::write_lines(dir.file("in.txt"), texts);
  EmbedderOptions options;
  options.device = "cpu";
  options.threads = 1;
  Embedder embedder(test::tiny_model_dir(), options);
  const std::vector<float> expected = embedder.embed(texts);
  for (const std::string dtype : {"float32", "int8"}) {
    EmbedFileOptions file;
    file.input = dir.file("in.txt");
    file.output_dir = dir.file("out-" + dtype);
    file.dtype = dtype;
    file.chunk_lines = 7;  // several chunks: the header is rewritten at the end
    file.progress = false;
    embed_file(embedder, file);
    // numpy loads the file and writes back its shape, dtype and raw float32 values.
    const std::string script =
        "import sys, numpy\n"
        "a = numpy.load(sys.argv[1])\n"
        "print(a.dtype.str, a.shape[0], a.shape[1], int(a.flags.c_contiguous))\n"
        "a.astype('<f4').tofile(sys.argv[2])\n";
    write_text(dir.file("load.py"), script);
    const test::CommandResult r =
        test::run_shell(std::string(kPython) + " " + dir.file("load.py") + " " + file.output_dir +
                        "/embeddings.npy " + dir.file("raw-" + dtype));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const std::string descr = dtype == "int8" ? "|i1" : "<f4";
    EXPECT_EQ(r.out, descr + " " + std::to_string(texts.size()) + " 128 1\n");
    const std::string raw = read_text(dir.file("raw-" + dtype));
    ASSERT_EQ(raw.size(), expected.size() * 4);
    std::vector<float> got(expected.size());
    std::memcpy(got.data(), raw.data(), raw.size());
    const float scale = dtype == "int8" ? 1.0f / 127 : 1.0f;
    EXPECT_EQ(got, read_npy_matrix(file.output_dir + "/embeddings.npy", 1.0f).data)
        << "numpy and sembed read the same values";
    if (dtype == "float32") {
      EXPECT_LE(test::max_abs_diff(got, expected), 1e-5)
          << "numpy sees the vectors sembed computed";
      EXPECT_EQ(load_embedding_set(file.output_dir).vectors, got);
    } else {
      EXPECT_LE(
          test::max_abs_diff(load_embedding_set(file.output_dir).vectors,
                             read_npy_matrix(file.output_dir + "/embeddings.npy", scale).data),
          0.0f);
      for (size_t i = 0; i < got.size(); ++i)
        ASSERT_NEAR(got[i] / 127.0f, expected[i], 0.5f / 127 + 1e-5) << i;
    }
  }
}

}  // namespace
}  // namespace sembed
