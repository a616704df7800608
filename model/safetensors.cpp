#include "model/safetensors.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "common/atomic_file.h"

namespace sembed {

namespace {

struct DTypeInfo {
  DType dtype;
  const char* name;
  size_t size;
};
constexpr DTypeInfo kDTypes[] = {{DType::kF64, "F64", 8}, {DType::kF32, "F32", 4},
                                 {DType::kF16, "F16", 2}, {DType::kBF16, "BF16", 2},
                                 {DType::kI64, "I64", 8}, {DType::kI32, "I32", 4},
                                 {DType::kI16, "I16", 2}, {DType::kI8, "I8", 1},
                                 {DType::kU8, "U8", 1},   {DType::kBool, "BOOL", 1}};

[[noreturn]] void fail(const std::string& msg) {
  throw std::runtime_error("invalid safetensors data: " + msg);
}

}  // namespace

DType dtype_from_name(const std::string& name) {
  for (const auto& d : kDTypes)
    if (name == d.name) return d.dtype;
  throw std::invalid_argument("unknown safetensors dtype '" + name + "'");
}

const char* dtype_name(DType dtype) {
  for (const auto& d : kDTypes)
    if (d.dtype == dtype) return d.name;
  return "?";
}

size_t dtype_size(DType dtype) {
  for (const auto& d : kDTypes)
    if (d.dtype == dtype) return d.size;
  return 0;
}

int64_t TensorView::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

SafetensorsFile SafetensorsFile::parse(std::string bytes) {
  SafetensorsFile file;
  file.bytes_ = std::make_shared<const std::string>(std::move(bytes));
  const std::string& b = *file.bytes_;
  if (b.size() < 8)
    fail("file is " + std::to_string(b.size()) + " bytes, shorter than its 8-byte header length");
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | static_cast<unsigned char>(b[i]);
  if (header_len > b.size() - 8)
    fail("header length " + std::to_string(header_len) + " exceeds the file size " +
         std::to_string(b.size()) + " (truncated file?)");
  if (header_len > 100u * 1024 * 1024) fail("header larger than 100 MB");
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(b.begin() + 8, b.begin() + 8 + static_cast<long>(header_len));
  } catch (const nlohmann::json::exception& e) {
    fail(std::string("header is not valid JSON: ") + e.what());
  }
  if (!header.is_object()) fail("header is not a JSON object");
  const size_t data_start = 8 + header_len;
  const size_t data_size = b.size() - data_start;
  std::vector<std::pair<size_t, size_t>> ranges;
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const auto& entry = it.value();
    if (name == "__metadata__") {
      if (!entry.is_object()) fail("__metadata__ is not an object");
      for (auto m = entry.begin(); m != entry.end(); ++m) {
        if (!m.value().is_string()) fail("__metadata__ value of '" + m.key() + "' is not a string");
        file.metadata_[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    if (!entry.is_object()) fail("entry '" + name + "' is not an object");
    if (!entry.contains("dtype") || !entry["dtype"].is_string())
      fail("'" + name + "' has no dtype");
    if (!entry.contains("shape") || !entry["shape"].is_array()) fail("'" + name + "' has no shape");
    if (!entry.contains("data_offsets") || !entry["data_offsets"].is_array() ||
        entry["data_offsets"].size() != 2)
      fail("'" + name + "' has no [begin, end] data_offsets");
    TensorView view;
    try {
      view.dtype = dtype_from_name(entry["dtype"].get<std::string>());
    } catch (const std::invalid_argument& e) {
      fail("'" + name + "': " + e.what());
    }
    uint64_t numel = 1;
    for (const auto& d : entry["shape"]) {
      if (!d.is_number_integer() || d.get<int64_t>() < 0)
        fail("'" + name + "' has a bad dimension");
      const uint64_t dim = d.get<uint64_t>();
      if (dim != 0 && numel > std::numeric_limits<uint64_t>::max() / 16 / dim)
        fail("'" + name + "' is too large");
      numel *= dim;
      view.shape.push_back(static_cast<int64_t>(dim));
    }
    const auto& offs = entry["data_offsets"];
    if (!offs[0].is_number_unsigned() &&
        !(offs[0].is_number_integer() && offs[0].get<int64_t>() >= 0))
      fail("'" + name + "' has a bad data offset");
    if (!offs[1].is_number_unsigned() &&
        !(offs[1].is_number_integer() && offs[1].get<int64_t>() >= 0))
      fail("'" + name + "' has a bad data offset");
    const uint64_t begin = offs[0].get<uint64_t>(), end = offs[1].get<uint64_t>();
    if (begin > end || end > data_size)
      fail("'" + name + "' data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
           ") fall outside the " + std::to_string(data_size) +
           "-byte data section (truncated file?)");
    const uint64_t expected = numel * dtype_size(view.dtype);
    if (end - begin != expected)
      fail("'" + name + "' holds " + std::to_string(end - begin) +
           " bytes but its shape and dtype need " + std::to_string(expected));
    view.data = reinterpret_cast<const uint8_t*>(b.data() + data_start + begin);
    view.nbytes = static_cast<size_t>(end - begin);
    if (view.nbytes > 0) ranges.emplace_back(begin, end);
    file.tensors_.emplace(name, std::move(view));
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i)
    if (ranges[i].first < ranges[i - 1].second) fail("two tensors overlap in the data section");
  return file;
}

SafetensorsFile SafetensorsFile::read(const std::string& path) {
  std::string bytes = read_file(path);
  try {
    return parse(std::move(bytes));
  } catch (const std::runtime_error& e) {
    throw std::runtime_error("'" + path + "': " + e.what());
  }
}

const TensorView& SafetensorsFile::at(const std::string& name) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) throw std::runtime_error("tensor '" + name + "' is missing");
  return it->second;
}

std::string serialize_safetensors(const std::vector<TensorData>& tensors,
                                  const std::map<std::string, std::string>& metadata) {
  std::vector<const TensorData*> sorted;
  for (const auto& t : tensors) sorted.push_back(&t);
  std::sort(sorted.begin(), sorted.end(),
            [](const TensorData* a, const TensorData* b) { return a->name < b->name; });
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const TensorData* t : sorted) {
    uint64_t numel = 1;
    for (int64_t d : t->shape) {
      if (d < 0) throw std::invalid_argument("tensor '" + t->name + "' has a negative dimension");
      numel *= static_cast<uint64_t>(d);
    }
    if (numel * dtype_size(t->dtype) != t->bytes.size())
      throw std::invalid_argument("tensor '" + t->name + "' bytes do not match its shape");
    if (header.contains(t->name)) throw std::invalid_argument("duplicate tensor '" + t->name + "'");
    header[t->name] = {{"dtype", dtype_name(t->dtype)},
                       {"shape", t->shape},
                       {"data_offsets", {offset, offset + t->bytes.size()}}};
    offset += t->bytes.size();
  }
  std::string json = header.dump();
  // Pad with spaces so the data section starts 8-byte aligned (as the reference writer does).
  while ((8 + json.size()) % 8 != 0) json.push_back(' ');
  std::string out;
  out.reserve(8 + json.size() + offset);
  uint64_t n = json.size();
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((n >> (8 * i)) & 0xFF));
  out += json;
  for (const TensorData* t : sorted) out += t->bytes;
  return out;
}

}  // namespace sembed
