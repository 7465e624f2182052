#include "connectors/crypto/signer.hpp"

#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace taxdesk::connectors::crypto {
namespace {

// RAII for every OpenSSL object this file holds.
struct PkeyFree {
    void operator()(EVP_PKEY* key) const noexcept { EVP_PKEY_free(key); }
};
struct PkeyCtxFree {
    void operator()(EVP_PKEY_CTX* ctx) const noexcept { EVP_PKEY_CTX_free(ctx); }
};
struct MdCtxFree {
    void operator()(EVP_MD_CTX* ctx) const noexcept { EVP_MD_CTX_free(ctx); }
};
struct BioFree {
    void operator()(BIO* bio) const noexcept { BIO_free_all(bio); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
using PkeyCtx = std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree>;
using MdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;
using Bio = std::unique_ptr<BIO, BioFree>;

constexpr char kHex[] = "0123456789abcdef";

std::string toHex(const unsigned char* bytes, std::size_t size) {
    std::string out;
    out.reserve(size * 2);
    for (std::size_t i = 0; i < size; ++i) {
        out.push_back(kHex[bytes[i] >> 4]);
        out.push_back(kHex[bytes[i] & 0x0F]);
    }
    return out;
}

/// A read-only BIO over `text`'s buffer (not copied: `text` must outlive it).
Bio memoryBio(const std::string& text) {
    Bio bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
    if (!bio) throw CryptoError("out of memory (BIO)");
    return bio;
}

std::string bioText(BIO* bio) {
    char* data = nullptr;
    const long size = BIO_get_mem_data(bio, &data);
    return size > 0 ? std::string(data, static_cast<std::size_t>(size)) : std::string();
}

std::string rawPublicKey(EVP_PKEY* key) {
    unsigned char raw[64];
    std::size_t size = sizeof raw;
    if (EVP_PKEY_get_raw_public_key(key, raw, &size) != 1) throw CryptoError("cannot read the raw public key");
    return {reinterpret_cast<const char*>(raw), size};
}

std::string keyIdOf(EVP_PKEY* key) {
    return sha256Hex(rawPublicKey(key)).substr(0, 16);
}

/// A public key from PEM: a public key's PEM, or else a private key's (its public half).
Pkey publicKeyFromPem(const std::string& pem) {
    auto bio = memoryBio(pem);
    Pkey key(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
    if (!key) {
        auto again = memoryBio(pem);
        key.reset(PEM_read_bio_PrivateKey(again.get(), nullptr, nullptr, nullptr));
    }
    if (!key) throw CryptoError("not a PEM key");
    if (EVP_PKEY_get_base_id(key.get()) != EVP_PKEY_ED25519) throw CryptoError("not an Ed25519 key");
    return key;
}

Pkey newKey() {
    PkeyCtx ctx(EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, nullptr));
    EVP_PKEY* raw = nullptr;
    if (!ctx || EVP_PKEY_keygen_init(ctx.get()) != 1 || EVP_PKEY_keygen(ctx.get(), &raw) != 1)
        throw CryptoError("cannot generate an Ed25519 key");
    return Pkey(raw);
}

}  // namespace

struct Sha256::Impl {
    MdCtx ctx{EVP_MD_CTX_new()};
    bool finished = false;
};

Sha256::Sha256() : impl_(std::make_unique<Impl>()) {
    if (!impl_->ctx || EVP_DigestInit_ex(impl_->ctx.get(), EVP_sha256(), nullptr) != 1)
        throw CryptoError("cannot start a SHA-256 digest");
}

Sha256::~Sha256() = default;

void Sha256::update(std::string_view bytes) {
    if (impl_->finished) throw CryptoError("SHA-256 digest already finished");
    if (EVP_DigestUpdate(impl_->ctx.get(), bytes.data(), bytes.size()) != 1) throw CryptoError("SHA-256 update failed");
}

std::string Sha256::hex() {
    if (impl_->finished) throw CryptoError("SHA-256 digest already finished");
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    if (EVP_DigestFinal_ex(impl_->ctx.get(), digest, &size) != 1) throw CryptoError("SHA-256 final failed");
    impl_->finished = true;
    return toHex(digest, size);
}

std::string sha256Hex(std::string_view bytes) {
    Sha256 digest;
    digest.update(bytes);
    return digest.hex();
}

std::string base64Encode(std::string_view bytes) {
    std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
    const int size =
        EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                        reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
    out.resize(static_cast<std::size_t>(size));
    return out;
}

std::string base64Decode(std::string_view text) {
    if (text.size() % 4 != 0 ||
        text.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") !=
            std::string_view::npos)
        throw CryptoError("not base64");
    std::string out(3 * (text.size() / 4) + 1, '\0');
    const int size =
        EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                        reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
    if (size < 0) throw CryptoError("not base64");
    // EVP_DecodeBlock counts the padding as zero bytes.
    std::size_t length = static_cast<std::size_t>(size);
    if (!text.empty() && text.back() == '=') --length;
    if (text.size() > 1 && text[text.size() - 2] == '=') --length;
    out.resize(length);
    return out;
}

std::string hexToBytes(std::string_view hex) {
    if (hex.size() % 2 != 0) throw CryptoError("odd number of hex digits");
    auto value = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        throw CryptoError("not a hex digit");
    };
    std::string out;
    out.reserve(hex.size() / 2);
    for (std::size_t i = 0; i < hex.size(); i += 2)
        out.push_back(static_cast<char>(value(hex[i]) * 16 + value(hex[i + 1])));
    return out;
}

struct Ed25519Signer::Impl {
    Pkey key;
    std::string keyId;
};

Ed25519Signer::Ed25519Signer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Ed25519Signer::~Ed25519Signer() = default;

std::unique_ptr<Ed25519Signer> Ed25519Signer::generate() {
    auto impl = std::make_unique<Impl>();
    impl->key = newKey();
    impl->keyId = keyIdOf(impl->key.get());
    return std::unique_ptr<Ed25519Signer>(new Ed25519Signer(std::move(impl)));
}

std::unique_ptr<Ed25519Signer> Ed25519Signer::loadOrCreate(const std::string& path, bool createIfMissing) {
    const std::string name = "the results signing key " + path;
    struct stat info {};
    if (::stat(path.c_str(), &info) != 0) {
        if (errno != ENOENT || !createIfMissing) throw CryptoError(name + " cannot be read: " + std::strerror(errno));
        auto fresh = generate();
        const std::string pem = fresh->privateKeyPem();
        const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd >= 0) {
            const auto written = ::write(fd, pem.data(), pem.size());
            const bool ok = written == static_cast<ssize_t>(pem.size()) && ::fsync(fd) == 0;
            ::close(fd);
            if (!ok) {
                ::unlink(path.c_str());
                throw CryptoError(name + " cannot be written");
            }
            return fresh;
        }
        if (errno != EEXIST) throw CryptoError(name + " cannot be created: " + std::strerror(errno));
        // Another process created it meanwhile: read theirs (below).
    }
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    if (!in) throw CryptoError(name + " cannot be read");
    const std::string pem = text.str();  // the BIO reads this buffer without copying it
    auto bio = memoryBio(pem);
    Pkey key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
    if (!key) throw CryptoError(name + " is not a PEM private key");
    if (EVP_PKEY_get_base_id(key.get()) != EVP_PKEY_ED25519) throw CryptoError(name + " is not an Ed25519 key");
    auto impl = std::make_unique<Impl>();
    impl->key = std::move(key);
    impl->keyId = keyIdOf(impl->key.get());
    return std::unique_ptr<Ed25519Signer>(new Ed25519Signer(std::move(impl)));
}

std::string Ed25519Signer::sign(std::string_view message) const {
    MdCtx ctx(EVP_MD_CTX_new());
    unsigned char signature[64];
    std::size_t size = sizeof signature;
    if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, impl_->key.get()) != 1 ||
        EVP_DigestSign(ctx.get(), signature, &size, reinterpret_cast<const unsigned char*>(message.data()),
                       message.size()) != 1)
        throw CryptoError("Ed25519 signing failed");
    return {reinterpret_cast<const char*>(signature), size};
}

std::string Ed25519Signer::publicKeyPem() const {
    Bio bio(BIO_new(BIO_s_mem()));
    if (!bio || PEM_write_bio_PUBKEY(bio.get(), impl_->key.get()) != 1)
        throw CryptoError("cannot write the public key");
    return bioText(bio.get());
}

std::string Ed25519Signer::keyId() const {
    return impl_->keyId;
}

std::string Ed25519Signer::privateKeyPem() const {
    Bio bio(BIO_new(BIO_s_mem()));
    if (!bio || PEM_write_bio_PrivateKey(bio.get(), impl_->key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1)
        throw CryptoError("cannot write the private key");
    return bioText(bio.get());
}

bool verifyEd25519(const std::string& publicKeyPem, std::string_view message, std::string_view signature) {
    const Pkey key = publicKeyFromPem(publicKeyPem);
    MdCtx ctx(EVP_MD_CTX_new());
    if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) != 1)
        throw CryptoError("cannot start an Ed25519 verification");
    return EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                            reinterpret_cast<const unsigned char*>(message.data()), message.size()) == 1;
}

std::string keyIdOfPem(const std::string& pem) {
    return keyIdOf(publicKeyFromPem(pem).get());
}

}  // namespace taxdesk::connectors::crypto
