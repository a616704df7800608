#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace sembed {

// The safetensors format (https://github.com/huggingface/safetensors, the standard layout):
// 8-byte little-endian header length N, N bytes of JSON {name: {dtype, shape, data_offsets}} plus
// an optional "__metadata__" string map, then the raw little-endian tensor bytes. Python's
// `safetensors` reads what this writes. No torch here (fuzzed on its own).
enum class DType { kF64, kF32, kF16, kBF16, kI64, kI32, kI16, kI8, kU8, kBool };

// "F32", "BF16", ... as safetensors spells them; throws std::invalid_argument for unknown names.
DType dtype_from_name(const std::string& name);
const char* dtype_name(DType dtype);
size_t dtype_size(DType dtype);

// A tensor inside a parsed file: points into the file's bytes.
struct TensorView {
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;
  size_t nbytes = 0;
  int64_t numel() const;
};

// A parsed safetensors file. Owns its bytes; views stay valid while the object lives.
class SafetensorsFile {
 public:
  // Parses and fully validates `bytes`: header size within the file, JSON object, known dtypes,
  // non-negative shapes, data_offsets inside the data section, byte size == numel * dtype size,
  // no two tensors overlapping. Throws std::runtime_error with a clear message on any violation.
  static SafetensorsFile parse(std::string bytes);
  // Reads and parses a file; errors name the path.
  static SafetensorsFile read(const std::string& path);

  const std::map<std::string, TensorView>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // Throws std::runtime_error when `name` is absent.
  const TensorView& at(const std::string& name) const;
  bool contains(const std::string& name) const { return tensors_.count(name) > 0; }

 private:
  std::shared_ptr<const std::string> bytes_;  // shared so copies keep views valid
  std::map<std::string, TensorView> tensors_;
  std::map<std::string, std::string> metadata_;
};

// A tensor to write: raw little-endian bytes of `dtype` in row-major order.
struct TensorData {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  std::string bytes;
};

// Serialises tensors (in name order) and metadata to safetensors bytes. Throws
// std::invalid_argument when a tensor's byte size does not match its shape and dtype.
std::string serialize_safetensors(const std::vector<TensorData>& tensors,
                                  const std::map<std::string, std::string>& metadata = {});

}  // namespace sembed
