#pragma once

// Errors that carry the HTTP answer they turn into. The server's one wrapper maps them (and any
// other exception) onto the one error body {"error": {"code", "type", "message"}}; library code
// throws them like any other exception and never formats a response itself.
#include <stdexcept>
#include <string>

namespace sembed::serve {

// A caller error (4xx): bad JSON, a wrong type, a missing or empty field, a value out of range, a
// text too long, a bad API key. A std::invalid_argument, so code that only knows the library's
// error convention still treats it as the caller's fault. `message` names the field at fault.
class RequestError : public std::invalid_argument {
 public:
  RequestError(int status, std::string type, const std::string& message);
  int status() const { return status_; }
  const std::string& type() const { return type_; }

 private:
  int status_;
  std::string type_;
};

// The server cannot take the request now (5xx or 429): still loading (503), queue full (429),
// shutting down (503). A std::runtime_error: not the caller's fault.
class ServiceError : public std::runtime_error {
 public:
  ServiceError(int status, std::string type, const std::string& message);
  int status() const { return status_; }
  const std::string& type() const { return type_; }

 private:
  int status_;
  std::string type_;
};

// The error kinds used across the server, one factory each so status and type always agree.
RequestError invalid_json(const std::string& message);        // 400 "invalid_json"
RequestError validation_error(const std::string& message);    // 422 "validation_error"
RequestError unauthorized(const std::string& message);        // 401 "authentication_error"
RequestError not_found(const std::string& message);           // 404 "not_found"
RequestError method_not_allowed(const std::string& message);  // 405 "method_not_allowed"
RequestError payload_too_large(const std::string& message);   // 413 "payload_too_large"
ServiceError overloaded(const std::string& message);          // 429 "overloaded"
ServiceError unavailable(const std::string& message);         // 503 "unavailable"

}  // namespace sembed::serve
