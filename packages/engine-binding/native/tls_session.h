// TLS (GnuTLS) over BufferedSocket's own receive buffer, for rtmps://: GnuTLS pulls its ciphertext from
// that buffer, so a record costs no receive of its own, and the socket is read in the same few large
// receives as plain RTMP. libavformat's TLS layer, by contrast, reads each record header and body with
// separate receives, and loads the system's whole CA store into every connection's credentials.
//
// As libavformat's rtmps (its tls_verify is off by default), the server's certificate is not verified:
// the session encrypts, it does not authenticate. SNI carries the host name when it is one.
//
// Built only where GnuTLS's development files are (binding.gyp defines RECFLEET_HAVE_GNUTLS); without
// them Available() is false and src/native-options.ts keeps rtmps:// with libavformat.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace recfleet {

class TlsSession {
 public:
  // The ciphertext side: `pull` copies up to n received bytes and returns how many (0: none left in the
  // buffer), `buffered` says how many are left, `receive` waits for and receives more (0 or an
  // AVERROR), `send` sends all (0 or an AVERROR).
  struct Transport {
    std::function<size_t(uint8_t*, size_t)> pull;
    std::function<size_t()> buffered;
    std::function<int()> receive;
    std::function<int(const uint8_t*, size_t)> send;
  };

  static bool Available();
  explicit TlsSession(Transport transport);
  ~TlsSession();
  TlsSession(const TlsSession&) = delete;
  TlsSession& operator=(const TlsSession&) = delete;

  // 0, or an AVERROR (AVERROR(EIO) for a failed handshake).
  int Handshake(const std::string& host);
  // Decrypted bytes (> 0), AVERROR_EOF at the peer's close, or an AVERROR.
  int Read(uint8_t* dst, size_t capacity);
  int Write(const uint8_t* data, size_t size);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace recfleet
