#include "tls_session.h"

extern "C" {
#include <libavutil/error.h>
}

#include <arpa/inet.h>

#include <cerrno>
#include <climits>

#ifdef RECFLEET_HAVE_GNUTLS
#include <gnutls/gnutls.h>
#endif

namespace recfleet {

#ifdef RECFLEET_HAVE_GNUTLS

struct TlsSession::Impl {
  Transport transport;
  gnutls_session_t session = nullptr;
  gnutls_certificate_credentials_t credentials = nullptr;
  int transport_error = 0;  // the AVERROR behind a GNUTLS_E_PUSH_ERROR / PULL_ERROR
  size_t buffered_at_again = SIZE_MAX;  // ciphertext left when GnuTLS last said AGAIN

  static ssize_t Pull(gnutls_transport_ptr_t p, void* data, size_t size) {
    auto* self = static_cast<Impl*>(p);
    const size_t n = self->transport.pull(static_cast<uint8_t*>(data), size);
    if (n > 0) return static_cast<ssize_t>(n);
    gnutls_transport_set_errno(self->session, EAGAIN);
    return -1;
  }

  static ssize_t Push(gnutls_transport_ptr_t p, const void* data, size_t size) {
    auto* self = static_cast<Impl*>(p);
    int ret = self->transport.send(static_cast<const uint8_t*>(data), size);
    if (ret >= 0) return static_cast<ssize_t>(size);
    self->transport_error = ret;
    gnutls_transport_set_errno(self->session, EIO);
    return -1;
  }

  // GnuTLS asks before it pulls in a handshake: everything waits in BufferedSocket, so the answer is
  // "there may be data"; Pull says EAGAIN when there is none, and the caller receives more.
  static int PullTimeout(gnutls_transport_ptr_t, unsigned int) { return 1; }

  // What a GnuTLS result means for the caller: go on (1, after receiving more ciphertext if none is
  // left: GnuTLS also says AGAIN after a post-handshake message, such as TLS 1.3's session tickets, with
  // records still buffered behind it), or an error.
  int Retry(int ret) {
    if (ret == GNUTLS_E_AGAIN || ret == GNUTLS_E_INTERRUPTED) {
      // Once more without receiving, unless nothing was pulled since the last AGAIN (a spin otherwise).
      const size_t buffered = transport.buffered();
      const bool progress = buffered != buffered_at_again;
      buffered_at_again = buffered;
      if (buffered > 0 && progress) return 1;
      int received = transport.receive();
      return received < 0 ? received : 1;
    }
    if (transport_error < 0) return transport_error;
    return AVERROR(EIO);
  }
};

bool TlsSession::Available() { return true; }

TlsSession::TlsSession(Transport transport) : impl_(new Impl) { impl_->transport = std::move(transport); }

TlsSession::~TlsSession() {
  if (impl_->session) gnutls_deinit(impl_->session);
  if (impl_->credentials) gnutls_certificate_free_credentials(impl_->credentials);
}

int TlsSession::Handshake(const std::string& host) {
  Impl& s = *impl_;
  if (gnutls_certificate_allocate_credentials(&s.credentials) < 0 || gnutls_init(&s.session, GNUTLS_CLIENT) < 0) {
    return AVERROR(ENOMEM);
  }
  unsigned char addr[16];
  const bool numeric = inet_pton(AF_INET, host.c_str(), addr) == 1 || inet_pton(AF_INET6, host.c_str(), addr) == 1;
  if (!numeric) gnutls_server_name_set(s.session, GNUTLS_NAME_DNS, host.data(), host.size());
  if (gnutls_set_default_priority(s.session) < 0 ||
      gnutls_credentials_set(s.session, GNUTLS_CRD_CERTIFICATE, s.credentials) < 0) {
    return AVERROR(EIO);
  }
  gnutls_transport_set_ptr(s.session, &s);
  gnutls_transport_set_pull_function(s.session, &Impl::Pull);
  gnutls_transport_set_pull_timeout_function(s.session, &Impl::PullTimeout);
  gnutls_transport_set_push_function(s.session, &Impl::Push);
  for (;;) {
    int ret = gnutls_handshake(s.session);
    if (ret == 0) return 0;
    if (ret != GNUTLS_E_AGAIN && ret != GNUTLS_E_INTERRUPTED && gnutls_error_is_fatal(ret) == 0) continue;
    if ((ret = s.Retry(ret)) < 0) return ret;
  }
}

int TlsSession::Read(uint8_t* dst, size_t capacity) {
  Impl& s = *impl_;
  for (;;) {
    ssize_t n = gnutls_record_recv(s.session, dst, capacity);
    if (n > 0) return static_cast<int>(n);
    // A close_notify, or (as most servers end) the connection closed without one.
    if (n == 0 || n == GNUTLS_E_PREMATURE_TERMINATION) return AVERROR_EOF;
    if (n == GNUTLS_E_REHANDSHAKE) continue;  // refused by not answering; the server may go on or close
    int ret = s.Retry(static_cast<int>(n));
    if (ret < 0) return ret;
  }
}

int TlsSession::Write(const uint8_t* data, size_t size) {
  Impl& s = *impl_;
  while (size > 0) {
    ssize_t n = gnutls_record_send(s.session, data, size);
    if (n > 0) {
      data += n;
      size -= static_cast<size_t>(n);
      continue;
    }
    if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED) continue;  // Push blocks: only a retry is left
    return s.transport_error < 0 ? s.transport_error : AVERROR(EIO);
  }
  return 0;
}

#else  // without GnuTLS: never constructed (Available() is false and the wrapper does not choose it)

struct TlsSession::Impl {};
bool TlsSession::Available() { return false; }
TlsSession::TlsSession(Transport) : impl_(new Impl) {}
TlsSession::~TlsSession() = default;
int TlsSession::Handshake(const std::string&) { return AVERROR(ENOSYS); }
int TlsSession::Read(uint8_t*, size_t) { return AVERROR(ENOSYS); }
int TlsSession::Write(const uint8_t*, size_t) { return AVERROR(ENOSYS); }

#endif

}  // namespace recfleet
