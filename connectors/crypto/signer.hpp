#pragma once
// Signing the results downloads (issue 13, tamper-evident results): SHA-256 digests and Ed25519 signatures through
// OpenSSL's EVP API. What is signed is jobs::inquiry::signedMessage()'s; this connector only signs and verifies bytes.
#include <cstddef>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

namespace taxdesk::connectors::crypto {

/// A key that cannot be read, parsed or written, or an OpenSSL failure. The message names the key file.
class CryptoError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

/// SHA-256 over bytes given piece by piece (a download streamed page by page).
class Sha256 {
  public:
    Sha256();
    ~Sha256();
    Sha256(const Sha256&) = delete;
    Sha256& operator=(const Sha256&) = delete;
    void update(std::string_view bytes);
    /// The digest as 64 lowercase hex digits; the object is finished afterwards (update() throws).
    [[nodiscard]] std::string hex();

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

/// SHA-256 of `bytes`, 64 lowercase hex digits.
std::string sha256Hex(std::string_view bytes);
/// Standard base64 (with padding, no line breaks).
std::string base64Encode(std::string_view bytes);
/// The bytes of standard base64; throws CryptoError on text that is not base64.
std::string base64Decode(std::string_view text);
/// Hex digits to bytes (for the RFC 3230 Digest header's base64 of a hex digest); throws CryptoError on bad hex.
std::string hexToBytes(std::string_view hex);

/// What signs the results: an interface, so that the API can be tested with any signer.
class Signer {
  public:
    virtual ~Signer() = default;
    /// The signature of `message` (64 raw bytes for Ed25519).
    [[nodiscard]] virtual std::string sign(std::string_view message) const = 0;
    /// The public key as PEM (SubjectPublicKeyInfo).
    [[nodiscard]] virtual std::string publicKeyPem() const = 0;
    /// The key's id: the first 16 hex digits of the SHA-256 of the raw public key.
    [[nodiscard]] virtual std::string keyId() const = 0;
};

/// An Ed25519 private key held in memory (EVP_PKEY). Thread-safe after construction: each sign() has its own context.
class Ed25519Signer final : public Signer {
  public:
    /// A new random key (tests; loadOrCreate() for a key kept in a file).
    static std::unique_ptr<Ed25519Signer> generate();
    /// The key in the PEM file `path` (PKCS#8 private key). When the file does not exist and `createIfMissing`, a new
    /// key is generated and written there first (mode 0600, created exclusively: of two processes starting at once,
    /// both end with the key one of them wrote). Throws CryptoError naming the file when it cannot be read, is not an
    /// Ed25519 private key, or cannot be written.
    static std::unique_ptr<Ed25519Signer> loadOrCreate(const std::string& path, bool createIfMissing);

    ~Ed25519Signer() override;
    Ed25519Signer(const Ed25519Signer&) = delete;
    Ed25519Signer& operator=(const Ed25519Signer&) = delete;

    [[nodiscard]] std::string sign(std::string_view message) const override;
    [[nodiscard]] std::string publicKeyPem() const override;
    [[nodiscard]] std::string keyId() const override;
    /// The private key as PEM (PKCS#8), for writing it to its file.
    [[nodiscard]] std::string privateKeyPem() const;

  private:
    struct Impl;
    explicit Ed25519Signer(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

/// Does `signature` verify `message` under the Ed25519 public key `publicKeyPem`? Throws CryptoError when the PEM is
/// not an Ed25519 public key (a private key's PEM is accepted too: its public half is used).
bool verifyEd25519(const std::string& publicKeyPem, std::string_view message, std::string_view signature);

/// The key id (as Signer::keyId()) of a PEM public (or private) Ed25519 key; throws CryptoError when it is not one.
std::string keyIdOfPem(const std::string& pem);

}  // namespace taxdesk::connectors::crypto
