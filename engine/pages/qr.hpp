#pragma once
// QR codes (libqrencode) as PNG images, for the receipt page: the public progress URL as a code a phone can scan.
#include <string>

namespace taxdesk::engine::pages {

/// A PNG (8-bit greyscale) of the QR code of `text`: `scale` pixels a module, a quiet zone of 4 modules.
/// Throws std::runtime_error when libqrencode cannot encode the text.
std::string qrPng(const std::string& text, int scale = 6);

/// The PNG as a data: URL for an <img src>.
std::string pngDataUrl(const std::string& png);

}  // namespace taxdesk::engine::pages
