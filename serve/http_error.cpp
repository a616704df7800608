#include "serve/http_error.h"

#include <utility>

namespace sembed::serve {

RequestError::RequestError(int status, std::string type, const std::string& message)
    : std::invalid_argument(message), status_(status), type_(std::move(type)) {}

ServiceError::ServiceError(int status, std::string type, const std::string& message)
    : std::runtime_error(message), status_(status), type_(std::move(type)) {}

RequestError invalid_json(const std::string& m) {
  return RequestError(400, "invalid_json", m);
}
RequestError validation_error(const std::string& m) {
  return RequestError(422, "validation_error", m);
}
RequestError unauthorized(const std::string& m) {
  return RequestError(401, "authentication_error", m);
}
RequestError not_found(const std::string& m) {
  return RequestError(404, "not_found", m);
}
RequestError method_not_allowed(const std::string& m) {
  return RequestError(405, "method_not_allowed", m);
}
RequestError payload_too_large(const std::string& m) {
  return RequestError(413, "payload_too_large", m);
}
ServiceError overloaded(const std::string& m) {
  return ServiceError(429, "overloaded", m);
}
ServiceError unavailable(const std::string& m) {
  return ServiceError(503, "unavailable", m);
}

}  // namespace sembed::serve
