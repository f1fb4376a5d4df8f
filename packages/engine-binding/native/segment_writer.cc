#include "segment_writer.h"

extern "C" {
#include <libavutil/mem.h>
#include <libavutil/opt.h>
}

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "counters.h"
#include "generated/vocabulary.h"

namespace recfleet {

namespace {
constexpr int kIoBufferSize = 64 * 1024;

#if LIBAVFORMAT_VERSION_MAJOR >= 61
int WriteThunk(void* opaque, const uint8_t* buf, int size) {
  return SegmentWriter::WritePacketCallback(opaque, buf, size);
}
#else
int WriteThunk(void* opaque, uint8_t* buf, int size) {
  return SegmentWriter::WritePacketCallback(opaque, buf, size);
}
#endif
}  // namespace

const char* ErrnoCode(int errnum) {
  if (errnum == ENOSPC || errnum == EDQUOT) return fatal_codes::kDiskFull;
  if (errnum == ENOMEM) return fatal_codes::kOutOfMemory;
  return fatal_codes::kOutputNotWritable;
}

SegmentWriter::SegmentWriter(std::string dir, std::string prefix)
    : dir_(std::move(dir)), prefix_(std::move(prefix)) {}

SegmentWriter::~SegmentWriter() {
  Abandon();
  if (oc_) avformat_free_context(oc_);
}

std::string SegmentWriter::PathFor(int64_t sequence) const {
  char num[32];
  snprintf(num, sizeof num, "%06lld", static_cast<long long>(sequence));
  return dir_ + "/" + prefix_ + "_" + num + ".ts";
}

WriteError SegmentWriter::ErrnoError(int errnum, const std::string& what) const {
  return WriteError{ErrnoCode(errnum), what + ": " + std::strerror(errnum)};
}

bool SegmentWriter::Init(const std::vector<const AVCodecParameters*>& params, WriteError* err) {
  if (avformat_alloc_output_context2(&oc_, nullptr, "mpegts", nullptr) < 0 || !oc_) {
    *err = WriteError{fatal_codes::kOutOfMemory, "cannot allocate the MPEG-TS muxer"};
    return false;
  }
  for (const AVCodecParameters* par : params) {
    AVStream* st = avformat_new_stream(oc_, nullptr);
    if (!st || avcodec_parameters_copy(st->codecpar, par) < 0) {
      *err = WriteError{fatal_codes::kOutOfMemory, "cannot add an output stream"};
      return false;
    }
    st->codecpar->codec_tag = 0;
    st->time_base = AVRational{1, 90000};
  }
  // Our output context cannot seek, so the muxer would flush it after every packet: one write(2)
  // per packet. Durability comes from the fsync at segment close, not from early writes, so let the
  // 64 KiB buffer fill instead.
  oc_->flush_packets = 0;
  return true;
}

int SegmentWriter::WritePacketCallback(void* opaque, const uint8_t* buf, int size) {
  auto* self = static_cast<SegmentWriter*>(opaque);
  int done = 0;
  while (done < size) {
    ssize_t n = ::write(self->fd_, buf + done, size - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      self->write_errno_ = errno;
      return AVERROR(errno);
    }
    done += static_cast<int>(n);
  }
  self->segment_bytes_ += size;
  Counters::bytes_written += size;
  return size;
}

bool SegmentWriter::OpenSegment(int64_t sequence, WriteError* err) {
  final_path_ = PathFor(sequence);
  part_path_ = final_path_ + ".part";
  fd_ = ::open(part_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    *err = ErrnoError(errno, "cannot create " + part_path_);
    return false;
  }
  segment_bytes_ = 0;
  write_errno_ = 0;
  auto* buffer = static_cast<unsigned char*>(av_malloc(kIoBufferSize));
  pb_ = buffer ? avio_alloc_context(buffer, kIoBufferSize, 1, this, nullptr, WriteThunk, nullptr) : nullptr;
  if (!pb_) {
    if (buffer) av_free(buffer);
    ::close(fd_);
    fd_ = -1;
    *err = WriteError{fatal_codes::kOutOfMemory, "cannot allocate an output buffer"};
    return false;
  }
  oc_->pb = pb_;
  if (!header_written_) {
    int ret = avformat_write_header(oc_, nullptr);
    if (ret < 0) {
      if (write_errno_) {
        *err = ErrnoError(write_errno_, "cannot write " + part_path_);
      } else {
        char msg[AV_ERROR_MAX_STRING_SIZE];
        av_strerror(ret, msg, sizeof msg);
        *err = WriteError{fatal_codes::kUnsupportedCodec, std::string("the MPEG-TS muxer refused the streams: ") + msg};
      }
      return false;
    }
    header_written_ = true;
  } else {
    // PAT/PMT at the start of every segment so each file is decodable on its own.
    av_opt_set(oc_->priv_data, "mpegts_flags", "+resend_headers", 0);
  }
  return true;
}

bool SegmentWriter::Write(AVPacket* pkt, WriteError* err) {
  int ret = av_write_frame(oc_, pkt);
  if (ret < 0) {
    if (write_errno_) {
      *err = ErrnoError(write_errno_, "cannot write " + part_path_);
      return false;
    }
    // A packet the muxer cannot take is dropped rather than ending the recording.
    Counters::packets_dropped++;
    return true;
  }
  Counters::packets_written++;
  return true;
}

bool SegmentWriter::CloseSegment(bool last, ClosedSegment* out, WriteError* err) {
  if (fd_ < 0) return true;
  if (last) {
    av_write_trailer(oc_);
  } else {
    av_write_frame(oc_, nullptr);  // flush the muxer's pending PES data into this segment
  }
  avio_flush(pb_);
  if (write_errno_) {
    *err = ErrnoError(write_errno_, "cannot write " + part_path_);
    Abandon();
    return false;
  }
  if (::fsync(fd_) != 0) {
    *err = ErrnoError(errno, "cannot sync " + part_path_);
    Abandon();
    return false;
  }
  ::close(fd_);
  fd_ = -1;
  FreeIo();
  if (::rename(part_path_.c_str(), final_path_.c_str()) != 0) {
    *err = ErrnoError(errno, "cannot rename " + part_path_);
    ::unlink(part_path_.c_str());
    return false;
  }
  // Make the rename itself durable: a crash must not leave the directory without the new name.
  int dfd = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  out->path = final_path_;
  out->bytes = segment_bytes_;
  return true;
}

void SegmentWriter::FreeIo() {
  if (pb_) {
    av_freep(&pb_->buffer);
    avio_context_free(&pb_);
  }
  if (oc_) oc_->pb = nullptr;
}

void SegmentWriter::Abandon() {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
    ::unlink(part_path_.c_str());
  }
  FreeIo();
}

}  // namespace recfleet
