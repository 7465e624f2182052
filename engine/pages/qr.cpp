#include "engine/pages/qr.hpp"

#include <Poco/Base64Encoder.h>
#include <Poco/Checksum.h>
#include <Poco/DeflatingStream.h>
#include <qrencode.h>

#include <memory>
#include <sstream>
#include <stdexcept>

namespace taxdesk::engine::pages {
namespace {

struct QrDeleter {
    void operator()(QRcode* code) const noexcept { QRcode_free(code); }
};

void appendBigEndian(std::string& out, std::uint32_t value) {
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((value >> shift) & 0xFF));
}

void appendChunk(std::string& png, const char* type, const std::string& data) {
    appendBigEndian(png, static_cast<std::uint32_t>(data.size()));
    const std::string typed = std::string(type, 4) + data;
    png += typed;
    Poco::Checksum crc(Poco::Checksum::TYPE_CRC32);
    crc.update(typed.data(), static_cast<unsigned>(typed.size()));
    appendBigEndian(png, crc.checksum());
}

}  // namespace

std::string qrPng(const std::string& text, int scale) {
    std::unique_ptr<QRcode, QrDeleter> code(QRcode_encodeString(text.c_str(), 0, QR_ECLEVEL_M, QR_MODE_8, 1));
    if (!code) throw std::runtime_error("cannot encode a QR code for the receipt URL");
    constexpr int kQuiet = 4;
    const int modules = code->width + 2 * kQuiet;
    const int size = modules * scale;

    // Raw scanlines: a filter byte (0, none) and one grey byte a pixel; 0 black, 255 white.
    std::string raw;
    raw.reserve(static_cast<std::size_t>(size) * static_cast<std::size_t>(size + 1));
    for (int y = 0; y < size; ++y) {
        raw.push_back('\0');
        const int my = y / scale - kQuiet;
        for (int x = 0; x < size; ++x) {
            const int mx = x / scale - kQuiet;
            const bool dark = mx >= 0 && my >= 0 && mx < code->width && my < code->width &&
                              (code->data[my * code->width + mx] & 1) != 0;
            raw.push_back(dark ? '\0' : static_cast<char>(0xFF));
        }
    }
    std::ostringstream compressed;
    {
        Poco::DeflatingOutputStream deflate(compressed, Poco::DeflatingStreamBuf::STREAM_ZLIB, 9);
        deflate.write(raw.data(), static_cast<std::streamsize>(raw.size()));
        deflate.close();
    }

    std::string png("\x89PNG\r\n\x1a\n", 8);
    std::string header;
    appendBigEndian(header, static_cast<std::uint32_t>(size));
    appendBigEndian(header, static_cast<std::uint32_t>(size));
    header += std::string("\x08\x00\x00\x00\x00", 5);  // 8-bit, greyscale, deflate, no filter, no interlace
    appendChunk(png, "IHDR", header);
    appendChunk(png, "IDAT", compressed.str());
    appendChunk(png, "IEND", "");
    return png;
}

std::string pngDataUrl(const std::string& png) {
    std::ostringstream out;
    Poco::Base64Encoder encoder(out);
    encoder.rdbuf()->setLineLength(0);
    encoder << png;
    encoder.close();
    return "data:image/png;base64," + out.str();
}

}  // namespace taxdesk::engine::pages
