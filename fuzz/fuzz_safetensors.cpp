// The safetensors reader (model/safetensors.h) on arbitrary bytes, parsed from memory
// (SafetensorsFile::read is read_file + parse). Documented contract: parse() returns a fully
// validated file or throws std::runtime_error. On success the views must lie inside the data
// section, hold numel * dtype size bytes and not overlap, and writing the tensors back out and
// parsing that again must give the same tensors and metadata.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "fuzz/fuzz_check.h"
#include "model/safetensors.h"

namespace sembed {
namespace {

// Reading every view's bytes (the round trip below copies them) lets ASan check that each lies
// inside the file's buffer.
void check_file(const SafetensorsFile& f) {
  std::vector<std::pair<const uint8_t*, const uint8_t*>> ranges;
  for (const auto& [name, v] : f.tensors()) {
    FUZZ_CHECK(name != "__metadata__", "a tensor named __metadata__");
    int64_t numel = 1;
    for (int64_t d : v.shape) {
      FUZZ_CHECK(d >= 0, "negative dimension in '" + name + "'");
      numel *= d;  // parse() bounds the product: overflow here is a bug UBSan reports
    }
    FUZZ_CHECK(v.numel() == numel, "numel of '" + name + "'");
    FUZZ_CHECK(v.nbytes == static_cast<size_t>(numel) * dtype_size(v.dtype),
               "byte size of '" + name + "'");
    if (v.nbytes == 0) continue;
    FUZZ_CHECK(v.data != nullptr, "'" + name + "' has no data");
    ranges.emplace_back(v.data, v.data + v.nbytes);
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i)
    FUZZ_CHECK(ranges[i].first >= ranges[i - 1].second, "overlapping tensors");
}

}  // namespace
}  // namespace sembed

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace sembed;
  std::optional<SafetensorsFile> parsed;
  try {
    parsed.emplace(SafetensorsFile::parse(std::string(reinterpret_cast<const char*>(data), size)));
  } catch (const std::runtime_error&) {
    return 0;  // the documented refusal
  }
  const SafetensorsFile& f = *parsed;
  check_file(f);

  // Write the tensors back out and read them again: nothing may change.
  std::vector<TensorData> out;
  for (const auto& [name, v] : f.tensors()) {
    TensorData t;
    t.name = name;
    t.dtype = v.dtype;
    t.shape = v.shape;
    t.bytes.assign(reinterpret_cast<const char*>(v.data), v.nbytes);
    out.push_back(std::move(t));
  }
  const SafetensorsFile g = SafetensorsFile::parse(serialize_safetensors(out, f.metadata()));
  FUZZ_CHECK(g.metadata() == f.metadata(), "metadata differs after a round trip");
  FUZZ_CHECK(g.tensors().size() == f.tensors().size(), "tensor count differs after a round trip");
  for (const auto& [name, v] : f.tensors()) {
    FUZZ_CHECK(g.contains(name), "'" + name + "' lost in a round trip");
    const TensorView& w = g.at(name);
    FUZZ_CHECK(w.dtype == v.dtype && w.shape == v.shape && w.nbytes == v.nbytes &&
                   (v.nbytes == 0 || std::memcmp(w.data, v.data, v.nbytes) == 0),
               "'" + name + "' differs after a round trip");
  }
  return 0;
}
