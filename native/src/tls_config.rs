//! HTTPS configuration: the certificate chain and private key that
//! `--tls-cert`, `--tls-key` and `--tls-password-file` name (CPython
//! 3.14's options) read from PEM files and made into a rustls
//! [`ServerConfig`].
//!
//! The files are read as CPython's `SSLContext.load_cert_chain(certfile,
//! keyfile, password)` reads them through OpenSSL: the certificate file
//! holds the chain, leaf first; the key comes from the key file, or from
//! the certificate file when there is none; the first key in a file is the
//! one used; PKCS#8, PKCS#1 (RSA) and SEC1 (EC) keys are taken, and an
//! encrypted PKCS#8 key is decrypted with the password, which CPython reads
//! from the password file with `f.read().strip()` before anything else.
//! Every failure is a [`TlsConfigError`] whose message is one line naming
//! the file and what is wrong with it.

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use pkcs8::der::asn1::{ContextSpecific, OctetStringRef, UintRef};
use pkcs8::der::zeroize::Zeroizing;
use pkcs8::der::{self, Reader, SliceReader, TagNumber};
use pkcs8::{AlgorithmIdentifierRef, EncryptedPrivateKeyInfoRef, ObjectIdentifier, PrivateKeyInfoRef};
use rustls::crypto::ring;
use rustls::pki_types::pem::{self, PemObject, SectionKind};
use rustls::pki_types::{
    CertificateDer, PrivateKeyDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer, PrivateSec1KeyDer,
};
use rustls::server::{ParsedCertificate, ServerSessionMemoryCache};
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use rustls::version::{TLS12, TLS13};
use rustls::{Error as RustlsError, InconsistentKeys, ServerConfig};

/// Largest file read: PEM chains and keys are a few KiB; this stops a
/// mistaken path (a device, a large file) from filling memory.
const MAX_FILE_SIZE: u64 = 16 << 20;

/// Sessions kept for stateful resumption (TLS 1.2 session IDs, and TLS 1.3
/// when a client cannot take tickets): about 1 KiB each at most.
const SESSION_CACHE_SIZE: usize = 1024;

/// The key types the ring provider signs with, for error messages.
const SUPPORTED_KEYS: &str = "RSA of 2048 to 8192 bits, ECDSA on P-256 or P-384, Ed25519";

/// Which of the three files a message is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Cert,
    Key,
    Password,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Role::Cert => "TLS certificate file",
            Role::Key => "TLS key file",
            Role::Password => "TLS password file",
        }
    }
}

/// A file and its role, displayed as `TLS key file 'key.pem'`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Named {
    pub role: Role,
    pub path: PathBuf,
}

impl Named {
    fn new(role: Role, path: &Path) -> Named {
        Named { role, path: path.to_path_buf() }
    }
}

impl fmt::Display for Named {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} '{}'", self.role.name(), self.path.display())
    }
}

/// Why the HTTPS configuration could not be made. Each message is one line
/// that names the file; `key` is the key file, or the certificate file
/// when the key is read from it.
#[derive(Debug)]
pub enum TlsConfigError {
    /// A file could not be opened or read. For the password file this is
    /// a usage error in CPython (its argument parsing reads the file), and
    /// the message is CPython's.
    Read { file: Named, error: io::Error },
    /// A file is larger than any PEM file this reads.
    TooLarge { file: Named },
    /// The password file is not UTF-8 text (CPython reads it as UTF-8).
    PasswordNotText { file: Named },
    /// A PEM block is cut off or not base64.
    BadPem { file: Named, detail: String },
    /// No `CERTIFICATE` block in the certificate file.
    NoCertificate { file: Named },
    /// The first certificate is not an X.509 certificate rustls can use.
    BadCertificate { file: Named, detail: String },
    /// No private key: in the key file, or in the certificate file when
    /// no key file is given.
    NoKey { file: Named },
    /// The key is encrypted and no password file was given.
    Encrypted { key: Named },
    /// The key is encrypted and the password file holds only whitespace.
    EmptyPassword { key: Named, password: Named },
    /// The password does not decrypt the key.
    WrongPassword { key: Named, password: Named },
    /// The key is encrypted in a way this cannot decrypt (OpenSSL's legacy
    /// PEM encryption, PBES1, an unknown cipher).
    UnsupportedEncryption { key: Named, detail: String },
    /// The key is not of a type the ring provider signs with.
    UnsupportedKey { key: Named, detail: String },
    /// The key is not the certificate's.
    KeyMismatch { key: Named, cert: Named },
    /// Anything else rustls refused.
    Rustls(RustlsError),
}

impl fmt::Display for TlsConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use TlsConfigError::*;
        match self {
            Read { file, error } if file.role == Role::Password => {
                // CPython: parser.error(f"Failed to read TLS password file: {e}")
                // with an OSError, shown as "[Errno 2] No such file or
                // directory: 'pw.txt'".
                write!(f, "Failed to read TLS password file: {}: '{}'", python_os_error(error), file.path.display())
            }
            Read { file, error } => write!(f, "cannot read {file}: {error}"),
            TooLarge { file } => write!(f, "{file} is larger than {} MiB", MAX_FILE_SIZE >> 20),
            PasswordNotText { file } => write!(f, "{file} is not UTF-8 text"),
            BadPem { file, detail } => write!(f, "{file} is not valid PEM: {detail}"),
            NoCertificate { file } => {
                write!(f, "no certificate in {file} (expected a PEM '-----BEGIN CERTIFICATE-----' block)")
            }
            BadCertificate { file, detail } => write!(f, "the first certificate in {file} is not usable: {detail}"),
            NoKey { file } if file.role == Role::Cert => {
                write!(f, "no private key in {file}: give the key file with --tls-key, or add the key to that file")
            }
            NoKey { file } => write!(
                f,
                "no private key in {file} (expected a PEM PRIVATE KEY, RSA PRIVATE KEY, EC PRIVATE KEY or ENCRYPTED PRIVATE KEY block)"
            ),
            Encrypted { key } => write!(f, "{key} is encrypted: give its password with --tls-password-file"),
            EmptyPassword { key, password } => write!(f, "{key} is encrypted, and {password} is empty"),
            WrongPassword { key, password } => write!(f, "wrong password for the encrypted {key} (from {password})"),
            UnsupportedEncryption { key, detail } => write!(f, "cannot decrypt {key}: {detail}"),
            UnsupportedKey { key, detail } => {
                write!(f, "unsupported private key in {key}: {detail} (supported: {SUPPORTED_KEYS})")
            }
            KeyMismatch { key, cert } if key == cert => {
                write!(f, "the private key in {key} does not match its certificate")
            }
            KeyMismatch { key, cert } => {
                write!(f, "the private key in {key} does not match the certificate in {cert}")
            }
            Rustls(e) => write!(f, "TLS configuration failed: {e}"),
        }
    }
}

impl std::error::Error for TlsConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TlsConfigError::Read { error, .. } => Some(error),
            TlsConfigError::Rustls(e) => Some(e),
            _ => None,
        }
    }
}

/// The server's TLS configuration from `--tls-cert`, `--tls-key` and
/// `--tls-password-file`.
///
/// - TLS 1.3 and 1.2 (CPython's `PROTOCOL_TLS_SERVER` has TLS 1.2 as its
///   floor), with the ring provider's cipher suites: all AEAD, all forward
///   secret.
/// - No client certificates, as CPython's `Purpose.CLIENT_AUTH` context.
/// - ALPN `http/1.1` only, as CPython's `HTTPSServer.alpn_protocols`: the
///   server speaks no HTTP/2.
/// - Resumption: a stateful cache of [`SESSION_CACHE_SIZE`] sessions and
///   stateless tickets (rustls's rotating ticketer: ChaCha20-Poly1305 keys
///   from the system random generator, a new one every 6 hours, tickets
///   good for 12), as OpenSSL's defaults have both; rustls's default of 2
///   TLS 1.3 tickets per handshake.
/// - No 0-RTT early data (`max_early_data_size = 0`, also rustls's and
///   OpenSSL's default): replayable requests are not worth a round trip.
pub fn server_config(
    cert: &Path,
    key: Option<&Path>,
    password_file: Option<&Path>,
) -> Result<Arc<ServerConfig>, TlsConfigError> {
    // CPython reads the password file first, while it parses arguments.
    let password = match password_file {
        Some(p) => Some((read_password(p)?, Named::new(Role::Password, p))),
        None => None,
    };
    let cert_file = Named::new(Role::Cert, cert);
    let cert_pem = read_file(&cert_file)?;
    let cert_items = parse_pem(&cert_file, &cert_pem)?;
    if cert_items.certs.is_empty() {
        return Err(TlsConfigError::NoCertificate { file: cert_file });
    }
    let (key_file, key_item) = match key {
        Some(k) => {
            let key_file = Named::new(Role::Key, k);
            let key_pem = read_file(&key_file)?;
            let item = parse_pem(&key_file, &key_pem)?.key;
            (key_file, item)
        }
        None => (cert_file.clone(), cert_items.key),
    };
    let Some(key_item) = key_item else {
        return Err(TlsConfigError::NoKey { file: key_file });
    };
    let key_der = match key_item {
        KeyItem::Clear(k) => k,
        KeyItem::Encrypted(der) => decrypt(&key_file, &der, password.as_ref())?,
        KeyItem::LegacyEncrypted => {
            return Err(TlsConfigError::UnsupportedEncryption {
                key: key_file,
                detail: "it is encrypted in OpenSSL's legacy PEM format (Proc-Type: 4,ENCRYPTED); \
                         convert it with 'openssl pkcs8 -topk8 -v2 aes-256-cbc'"
                    .into(),
            })
        }
        KeyItem::Unsupported(label) => {
            return Err(TlsConfigError::UnsupportedKey {
                key: key_file,
                detail: format!("a '{label}' PEM block"),
            })
        }
    };
    let certs = cert_items.certs;
    if let Err(e) = ParsedCertificate::try_from(&certs[0]) {
        return Err(TlsConfigError::BadCertificate { file: cert_file, detail: e.to_string() });
    }

    let provider = Arc::new(ring::default_provider());
    let signing_key = match provider.key_provider.load_private_key(key_der.clone_key()) {
        Ok(k) => k,
        Err(_) => {
            return Err(TlsConfigError::UnsupportedKey { key: key_file, detail: describe_key(&key_der) })
        }
    };
    let certified = CertifiedKey::new(certs, signing_key);
    match certified.keys_match() {
        // Unknown: the key cannot tell its public half (not so with ring).
        Ok(()) | Err(RustlsError::InconsistentKeys(InconsistentKeys::Unknown)) => {}
        Err(RustlsError::InconsistentKeys(InconsistentKeys::KeyMismatch)) => {
            return Err(TlsConfigError::KeyMismatch { key: key_file, cert: cert_file })
        }
        Err(e) => return Err(TlsConfigError::Rustls(e)),
    }

    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&TLS13, &TLS12])
        .map_err(TlsConfigError::Rustls)?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(SingleCertAndKey::from(certified)));
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config.session_storage = ServerSessionMemoryCache::new(SESSION_CACHE_SIZE);
    config.ticketer = ring::Ticketer::new().map_err(TlsConfigError::Rustls)?;
    config.max_early_data_size = 0;
    Ok(Arc::new(config))
}

/// The password as CPython has it: the file read as UTF-8 text (universal
/// newlines), surrounding whitespace stripped (`str.strip()`).
fn read_password(path: &Path) -> Result<Zeroizing<String>, TlsConfigError> {
    let file = Named::new(Role::Password, path);
    let bytes = read_file(&file)?;
    let Ok(text) = std::str::from_utf8(&bytes) else {
        return Err(TlsConfigError::PasswordNotText { file });
    };
    let text = Zeroizing::new(text.replace("\r\n", "\n").replace('\r', "\n"));
    Ok(Zeroizing::new(text.trim_matches(python_isspace).to_string()))
}

/// Python's `str.isspace()`: Unicode White_Space and the four ASCII
/// separators U+001C to U+001F.
fn python_isspace(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// An OS error as Python shows it: `[Errno 2] No such file or directory`.
fn python_os_error(e: &io::Error) -> String {
    let text = e.to_string();
    match e.raw_os_error() {
        Some(code) => {
            let suffix = format!(" (os error {code})");
            format!("[Errno {code}] {}", text.strip_suffix(&suffix).unwrap_or(&text))
        }
        None => text,
    }
}

fn read_file(file: &Named) -> Result<Zeroizing<Vec<u8>>, TlsConfigError> {
    let read_error = |error| TlsConfigError::Read { file: file.clone(), error };
    let f = File::open(&file.path).map_err(read_error)?;
    let mut data = Zeroizing::new(Vec::new());
    f.take(MAX_FILE_SIZE + 1).read_to_end(&mut data).map_err(read_error)?;
    if data.len() as u64 > MAX_FILE_SIZE {
        return Err(TlsConfigError::TooLarge { file: file.clone() });
    }
    Ok(data)
}

/// A private key as found in a PEM file.
enum KeyItem {
    Clear(PrivateKeyDer<'static>),
    /// The DER of a PKCS#8 `EncryptedPrivateKeyInfo`.
    Encrypted(Zeroizing<Vec<u8>>),
    /// An RSA or EC key with `Proc-Type: 4,ENCRYPTED` headers.
    LegacyEncrypted,
    /// A `... PRIVATE KEY` block of another kind (DSA, OpenSSH).
    Unsupported(String),
}

/// What a PEM file holds: its certificates in order, its first key.
struct PemItems {
    certs: Vec<CertificateDer<'static>>,
    key: Option<KeyItem>,
}

/// The blocks of a PEM file, read as OpenSSL reads them: text outside
/// blocks is ignored, as are blocks of other kinds (`EC PARAMETERS`, CRLs);
/// a block's base64 may be wrapped at any width.
fn parse_pem(file: &Named, data: &[u8]) -> Result<PemItems, TlsConfigError> {
    let bad = |detail: String| TlsConfigError::BadPem { file: file.clone(), detail };
    let mut items = PemItems { certs: Vec::new(), key: None };
    let mut lines = data.split(|&b| b == b'\n').map(|l| l.trim_ascii_end());
    while let Some(line) = lines.next() {
        let Some(label) = line.strip_prefix(b"-----BEGIN ").and_then(|l| l.strip_suffix(b"-----")) else {
            continue;
        };
        let label = String::from_utf8_lossy(label).into_owned();
        let end = format!("-----END {label}-----");
        let mut body: Vec<&[u8]> = Vec::new();
        let mut encrypted_header = false;
        let mut ended = false;
        for line in lines.by_ref() {
            if line == end.as_bytes() {
                ended = true;
                break;
            }
            if line.starts_with(b"-----BEGIN ") {
                break;
            }
            if line.contains(&b':') {
                // RFC 1421 headers, as OpenSSL's legacy encrypted keys have.
                encrypted_header |= line.starts_with(b"Proc-Type:") && line.ends_with(b"ENCRYPTED");
                continue;
            }
            body.push(line);
        }
        if !ended {
            return Err(bad(format!("'-----BEGIN {label}-----' has no '{end}' line")));
        }
        let is_key = label.ends_with("PRIVATE KEY");
        if is_key && items.key.is_some() {
            continue;
        }
        let section = match label.as_str() {
            "CERTIFICATE" | "X509 CERTIFICATE" => SectionKind::Certificate,
            "PRIVATE KEY" | "ENCRYPTED PRIVATE KEY" => SectionKind::PrivateKey,
            "RSA PRIVATE KEY" => SectionKind::RsaPrivateKey,
            "EC PRIVATE KEY" => SectionKind::EcPrivateKey,
            _ if is_key => {
                items.key = Some(KeyItem::Unsupported(label));
                continue;
            }
            _ => continue,
        };
        if encrypted_header && is_key {
            items.key = Some(KeyItem::LegacyEncrypted);
            continue;
        }
        let der = decode_base64(section, &body).map_err(|e| bad(format!("a {label} block: {e}")))?;
        match label.as_str() {
            "CERTIFICATE" | "X509 CERTIFICATE" => items.certs.push(CertificateDer::from(der.to_vec())),
            "PRIVATE KEY" => items.key = Some(KeyItem::Clear(PrivatePkcs8KeyDer::from(der.to_vec()).into())),
            "RSA PRIVATE KEY" => {
                items.key = Some(KeyItem::Clear(PrivatePkcs1KeyDer::from(der.to_vec()).into()))
            }
            "EC PRIVATE KEY" => {
                items.key = Some(KeyItem::Clear(PrivateSec1KeyDer::from(der.to_vec()).into()))
            }
            _ => items.key = Some(KeyItem::Encrypted(der)),
        }
    }
    Ok(items)
}

/// The DER a block's base64 lines hold, decoded by rustls-pki-types' PEM
/// reader (which takes any line width, as OpenSSL's does) under a label it
/// knows.
fn decode_base64(section: SectionKind, body: &[&[u8]]) -> Result<Zeroizing<Vec<u8>>, pem::Error> {
    let label = match section {
        SectionKind::Certificate => "CERTIFICATE",
        SectionKind::RsaPrivateKey => "RSA PRIVATE KEY",
        SectionKind::EcPrivateKey => "EC PRIVATE KEY",
        _ => "PRIVATE KEY",
    };
    let mut pem = Zeroizing::new(format!("-----BEGIN {label}-----\n").into_bytes());
    for line in body {
        pem.extend_from_slice(line);
        pem.push(b'\n');
    }
    pem.extend_from_slice(format!("-----END {label}-----\n").as_bytes());
    let (_, der) = <(SectionKind, Vec<u8>)>::from_pem_slice(&pem)?;
    Ok(Zeroizing::new(der))
}

/// The PKCS#8 key an `EncryptedPrivateKeyInfo` holds.
fn decrypt(
    key: &Named,
    der: &[u8],
    password: Option<&(Zeroizing<String>, Named)>,
) -> Result<PrivateKeyDer<'static>, TlsConfigError> {
    let unsupported = |detail: String| TlsConfigError::UnsupportedEncryption { key: key.clone(), detail };
    let reencrypt = |what: String| {
        unsupported(format!(
            "it is encrypted with {what}, which is not supported; \
             re-encrypt it with 'openssl pkcs8 -topk8 -v2 aes-256-cbc'"
        ))
    };
    let info = match EncryptedPrivateKeyInfoRef::try_from(der) {
        Ok(info) => info,
        Err(e) => {
            return Err(match encryption_algorithm(der) {
                Some(oid) if PBES1_OIDS.iter().any(|prefix| oid.to_string().starts_with(prefix)) => {
                    reencrypt(format!("PBES1 or PKCS#12 encryption (algorithm {oid})"))
                }
                Some(oid) => reencrypt(format!("algorithm {oid}")),
                None => unsupported(format!("its ENCRYPTED PRIVATE KEY block is not PKCS#8 ({e})")),
            })
        }
    };
    let Some((password, password_file)) = password else {
        return Err(TlsConfigError::Encrypted { key: key.clone() });
    };
    if password.is_empty() {
        return Err(TlsConfigError::EmptyPassword { key: key.clone(), password: password_file.clone() });
    }
    let wrong = || TlsConfigError::WrongPassword { key: key.clone(), password: password_file.clone() };
    let doc = match info.decrypt(password.as_bytes()) {
        Ok(doc) => doc,
        Err(pkcs8::Error::EncryptedPrivateKey(pkcs8::pkcs5::Error::DecryptFailed)) => return Err(wrong()),
        // Decrypted to something that is not DER: a wrong password whose
        // padding happened to check.
        Err(pkcs8::Error::Asn1(_)) => return Err(wrong()),
        Err(pkcs8::Error::EncryptedPrivateKey(pkcs8::pkcs5::Error::NoPbes1CryptSupport)) => {
            return Err(reencrypt("PBES1".into()))
        }
        Err(pkcs8::Error::EncryptedPrivateKey(pkcs8::pkcs5::Error::UnsupportedAlgorithm { oid })) => {
            return Err(reencrypt(format!("algorithm {oid}")))
        }
        Err(e) => return Err(unsupported(e.to_string())),
    };
    // Decrypted DER that is not a PKCS#8 key: a wrong password too.
    if PrivateKeyInfoRef::try_from(doc.as_bytes()).is_err() {
        return Err(wrong());
    }
    Ok(PrivatePkcs8KeyDer::from(doc.as_bytes().to_vec()).into())
}

/// OID prefixes of PBES1 (PKCS#5 v1.5) and PKCS#12 password-based
/// encryption, which the pkcs8 crate does not decrypt.
const PBES1_OIDS: &[&str] = &["1.2.840.113549.1.5.", "1.2.840.113549.1.12.1."];

/// The algorithm OID of an `EncryptedPrivateKeyInfo` whose parameters the
/// pkcs8 crate could not parse.
fn encryption_algorithm(der: &[u8]) -> Option<ObjectIdentifier> {
    let mut r = SliceReader::new(der).ok()?;
    r.sequence(|r| {
        let alg: AlgorithmIdentifierRef<'_> = r.decode()?;
        let _data: &OctetStringRef = r.decode()?;
        Ok::<_, der::Error>(alg.oid)
    })
    .ok()
}

const P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const P521: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.35");

/// What kind of key rustls refused, for the message.
fn describe_key(key: &PrivateKeyDer<'_>) -> String {
    const RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
    const RSA_PSS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.10");
    const EC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
    const ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
    const ED448: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.113");
    const X25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.110");
    const X448: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.111");
    const DSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10040.4.1");
    match key {
        PrivateKeyDer::Pkcs1(k) => describe_rsa(k.secret_pkcs1_der()),
        PrivateKeyDer::Sec1(k) => describe_ec(sec1_curve(k.secret_sec1_der())),
        PrivateKeyDer::Pkcs8(k) => {
            let Ok(info) = PrivateKeyInfoRef::try_from(k.secret_pkcs8_der()) else {
                return "a PKCS#8 key that cannot be parsed".into();
            };
            match info.algorithm.oid {
                RSA => describe_rsa(info.private_key.as_bytes()),
                RSA_PSS => "an RSA-PSS key".into(),
                EC => describe_ec(info.algorithm.parameters_oid().ok()),
                ED25519 => "an Ed25519 key that cannot be parsed".into(),
                ED448 => "an Ed448 key".into(),
                X25519 | X448 => "a key-agreement key, not a signing key".into(),
                DSA => "a DSA key".into(),
                oid => format!("a key of algorithm {oid}"),
            }
        }
        _ => "a key of an unknown encoding".into(),
    }
}

/// An RSA key by its size: ring refuses keys under 2048 or over 8192 bits.
fn describe_rsa(pkcs1: &[u8]) -> String {
    let modulus = SliceReader::new(pkcs1).and_then(|mut r| {
        r.sequence(|r| {
            let _version: UintRef<'_> = r.decode()?;
            let modulus: UintRef<'_> = r.decode()?;
            r.drain(r.remaining_len())?;
            Ok(modulus.as_bytes().to_vec())
        })
    });
    match modulus.ok().as_deref() {
        Some([first, rest @ ..]) => {
            format!("a {}-bit RSA key", rest.len() * 8 + 8 - first.leading_zeros() as usize)
        }
        _ => "an RSA key that cannot be parsed".into(),
    }
}

fn describe_ec(curve: Option<ObjectIdentifier>) -> String {
    match curve {
        Some(P256) | Some(P384) => "an EC key that cannot be parsed".into(),
        Some(P521) => "an EC key on P-521".into(),
        Some(curve) => format!("an EC key on curve {curve}"),
        None => "an EC key with no named curve".into(),
    }
}

/// The named curve of a SEC1 `ECPrivateKey`, from its optional
/// `parameters [0]`.
fn sec1_curve(der: &[u8]) -> Option<ObjectIdentifier> {
    let mut r = SliceReader::new(der).ok()?;
    r.sequence(|r| {
        let _version: UintRef<'_> = r.decode()?;
        let _key: &OctetStringRef = r.decode()?;
        let curve = ContextSpecific::<ObjectIdentifier>::decode_explicit(r, TagNumber(0))?;
        r.drain(r.remaining_len())?;
        Ok::<_, der::Error>(curve.map(|c| c.value))
    })
    .ok()
    .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    use pkcs8::der::pem::LineEnding;
    use pkcs8::pkcs5::pbes2;
    use std::fs;

    /// A 2048-bit RSA key made for these tests by OpenSSL 3.0 and
    /// encrypted by it (`openssl pkcs8 -topk8 -v2 aes-256-cbc`: PBES2,
    /// PBKDF2 with HMAC-SHA256, 2048 iterations) with [`RSA_PASSWORD`].
    const RSA_ENCRYPTED: &str = "-----BEGIN ENCRYPTED PRIVATE KEY-----
MIIFLTBXBgkqhkiG9w0BBQ0wSjApBgkqhkiG9w0BBQwwHAQIWK60KOoCqs0CAggA
MAwGCCqGSIb3DQIJBQAwHQYJYIZIAWUDBAEqBBCZO50w1s7olfGVRvq6P/+cBIIE
0BO33gmjcXhQr489x3lvjTtGrLqufmojASPG3CXQSi/BUTwXQ5+teNkXMeE/4CV4
X5aR3717TUGDo3sGGXKBbdQYAb/wbA5htS/+c5tHLFFvJrf9sQ7xFlT29LgYzGUV
bV8OiTds8vxEzqISXhtxs3J/pjvuZLkxqls6QT7gPCPUJOeEUcUBIrBTdpBRysEJ
kcU4roQb4I3lepwIw8h+t2WXob/zI4JJzgjci9WgXwEaxA/H9YYmfLdsOFKGQ5Av
MqYrcCamANME7XFcuEECyZ3bjRpirieFHZ7S9puWEgYjmqO1EJ/BnMHJoOT0yCAQ
VAGHvQUwNw1oVT+zVzNpizFvNVfrOleIZv4eNGEJSSME0NgtNspJRiTfTutvTB8t
p7DNC3Dc5yW+NAdYHLJGKNDPLljt47FgObqygoOQYU3+XEa0N6SJCwbrahkeKSmN
/XUc8SD9EvKAY13b7jqmsXkOdkDiQDEa9rb6gimpwomTyrRwGGTE049CzgE4TEbo
LLLhho+R3s6PuOUr6N1cgdZzEVJvCYRVRIGQEJSmweMZ4VNhbxYPdDRmrrFCKsjb
98F94EPe8pRcX41r/x/VeceWIAMG2JIKl1WIAahakDgN9YXddpIuSY2UspnkxWj9
Z4WlNEE57NSY7tS/15BA4krwwwMTcBUcjIO9Uc8ah3CNTzokApT/S7hxhvTRZIhM
fQjEx7Fuo3bMgHmswROuaIVJYlDuX8POZTdS+AQrifXk/tAxHzjsO6Bmde2Q8ycE
hunby+NDfOcwuuXWwlHt88pxoEgQv2Id55h5R+SYg8zpIqm3zhKmoly83kcGtUNc
vK9oV8q9cdEJbWI2axALgrvhmDLv2mY1j2ycaJ6e+3YA6dJV2VT6cjI4Tjm+RhBU
yV+uz6KyQvuAjZWfKJ1eVcQm+ZWeTs38WWj7fOxlHM3XKUwiIWlgZRCjBhUVtnaX
VPOS3yaxLMfefDa+/xusANXR3E0DbLL794IouPyZXQT98oItxiaY/cWPSBjkWSqS
kfUJWubCbyUAcHhDhlgzjTJP94WZXITM0nM3THeCLqwZRSHCNM/d7H2KcGbCHlNp
8cjcdJK1Axs0qVBYJyD6+Va0NrBPtsZfT8x53RZNfMcZykAnLtxGSQFwcEiSDCM3
ZnoAlGSwEPMe0iO9AEk13UzbaXi11uTM33Cb+oyR9c4+PLudvHfnmblE/pQSY49A
KwcLvJ3stGFW0fAB9M2IRErHXK8FOLV4xZb0WQFl6nHFmwxzs/jyT2XgjkjTZMWC
K4TmYmQ1zrfp6kbZeu6NCxwQ4kyWxTyZDpeppUhnLFrDu66uZJjAshwhYEwJeSh7
Fe9zU78PBdCfV3C8Zlrgln9omqiKLNXOTpILJAAi7RH5o4NdHDBTECJCjoArb1EV
szB7091gOOb3XlZLhnylXwCyW9u+bTz1QOqahPJiKohPJe8LqdalJhdHvRiwoGRu
miqe2rQi2PnPew0r6wEj9d3ROAilhxgkjycBcyCThnh/xxLgShEq8EtQ76LQWYf8
Qv44rc4moppbrEvivwKQ9Asar+zMFwcckWymQMrLsEfbpY4haMM5R+jdSa4lm+mk
Db7iVf9Dshkp9IlBpcRfGGQsYZhkcMnMcxkWvn3J94iA
-----END ENCRYPTED PRIVATE KEY-----
";
    const RSA_PASSWORD: &str = "s3cret pass";
    /// An Ed448 key (`openssl genpkey -algorithm ED448`): ring cannot sign
    /// with it.
    const ED448_KEY: &str = "-----BEGIN PRIVATE KEY-----
MEcCAQAwBQYDK2VxBDsEOfyKqG7vtRchW2OecZBmA3m3xtk/NvNOsA4wLESH5Ejy
UcM/k3JmCH6/QMjwyOlyw6XUCPM59hNYOQ==
-----END PRIVATE KEY-----
";

    struct Dir(tempfile::TempDir);

    impl Dir {
        fn new() -> Dir {
            Dir(tempfile::tempdir().unwrap())
        }
        fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
            let p = self.0.path().join(name);
            fs::write(&p, contents).unwrap();
            p
        }
    }

    /// A self-signed certificate (PEM) for a P-256 key (PKCS#8 DER).
    fn ec_cert() -> (String, Vec<u8>) {
        let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        (ck.cert.pem(), ck.signing_key.serialize_der())
    }

    fn pem(label: &'static str, der: &[u8]) -> String {
        pkcs8::der::pem::encode_string(label, LineEnding::LF, der).unwrap()
    }

    /// The test RSA key, decrypted (PKCS#8 DER), and a certificate for it.
    fn rsa_cert() -> (String, Vec<u8>) {
        let info = EncryptedPrivateKeyInfoRef::try_from(
            <(SectionKind, Vec<u8>)>::from_pem_slice(
                RSA_ENCRYPTED.replace("ENCRYPTED PRIVATE KEY", "PRIVATE KEY").as_bytes(),
            )
            .unwrap()
            .1
            .as_slice(),
        )
        .unwrap()
        .decrypt(RSA_PASSWORD)
        .unwrap()
        .as_bytes()
        .to_vec();
        let key_pair = rcgen::KeyPair::from_pem(&pem("PRIVATE KEY", &info)).unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
            .unwrap()
            .self_signed(&key_pair)
            .unwrap();
        (cert.pem(), info)
    }

    /// The inner key of a PKCS#8 key: PKCS#1 for RSA, SEC1 for EC.
    fn inner_key(pkcs8_der: &[u8]) -> Vec<u8> {
        PrivateKeyInfoRef::try_from(pkcs8_der).unwrap().private_key.as_bytes().to_vec()
    }

    fn encrypt(pkcs8_der: &[u8], password: &str) -> String {
        let params = pbes2::Parameters::generate_pbkdf2_sha256_aes256cbc(2048, &[7; 16], [9; 16]).unwrap();
        let doc =
            PrivateKeyInfoRef::try_from(pkcs8_der).unwrap().encrypt_with_params(params, password).unwrap();
        doc.to_pem("ENCRYPTED PRIVATE KEY", LineEnding::LF).unwrap().to_string()
    }

    fn err(r: Result<Arc<ServerConfig>, TlsConfigError>) -> String {
        match r {
            Ok(_) => panic!("expected an error"),
            Err(e) => e.to_string(),
        }
    }

    fn assert_serves(config: &ServerConfig) {
        assert_eq!(config.alpn_protocols, vec![b"http/1.1".to_vec()]);
        assert!(config.ticketer.enabled());
        assert_eq!(config.max_early_data_size, 0);
    }

    #[test]
    fn cert_and_key_files() {
        let d = Dir::new();
        let (cert, key) = ec_cert();
        let c = d.write("cert.pem", &cert);
        let k = d.write("key.pem", pem("PRIVATE KEY", &key));
        assert_serves(&server_config(&c, Some(&k), None).unwrap());
        // A password file is read but not needed for a clear key, as in
        // CPython; even an empty one.
        let p = d.write("empty", "\n");
        assert_serves(&server_config(&c, Some(&k), Some(&p)).unwrap());
    }

    #[test]
    fn cert_and_key_in_one_file() {
        let d = Dir::new();
        let (cert, key) = ec_cert();
        // Key first or last, with text and EC PARAMETERS blocks around.
        let both = d.write("both.pem", format!("subject=CN=x\n{cert}{}", pem("PRIVATE KEY", &key)));
        assert_serves(&server_config(&both, None, None).unwrap());
        let params = pem("EC PARAMETERS", &[6, 8, 42, 134, 72, 206, 61, 3, 1, 7]);
        let both = d.write("both2.pem", format!("{params}{}\r\n{cert}", pem("PRIVATE KEY", &key)));
        assert_serves(&server_config(&both, None, None).unwrap());
        // Given --tls-key, a key in the certificate file is not used.
        let (_, other) = ec_cert();
        let k = d.write("key.pem", pem("PRIVATE KEY", &other));
        assert!(server_config(&both, Some(&k), None).is_err());
    }

    #[test]
    fn pkcs1_and_sec1_keys() {
        let d = Dir::new();
        let (cert, key) = rsa_cert();
        let c = d.write("rsa.pem", &cert);
        let k = d.write("rsa.key", pem("RSA PRIVATE KEY", &inner_key(&key)));
        assert_serves(&server_config(&c, Some(&k), None).unwrap());
        let k = d.write("rsa8.key", pem("PRIVATE KEY", &key));
        assert_serves(&server_config(&c, Some(&k), None).unwrap());

        let (cert, key) = ec_cert();
        let c = d.write("ec.pem", &cert);
        let k = d.write("ec.key", pem("EC PRIVATE KEY", &inner_key(&key)));
        assert_serves(&server_config(&c, Some(&k), None).unwrap());
    }

    #[test]
    fn encrypted_keys() {
        let d = Dir::new();
        let (cert, _) = rsa_cert();
        let c = d.write("cert.pem", &cert);
        // OpenSSL's encryption; the password file stripped as CPython
        // strips it.
        let k = d.write("openssl.key", RSA_ENCRYPTED);
        let p = d.write("pw", format!(" \t{RSA_PASSWORD}\r\n\n"));
        assert_serves(&server_config(&c, Some(&k), Some(&p)).unwrap());
        let wrong = d.write("wrong", "s3cret");
        assert_eq!(
            err(server_config(&c, Some(&k), Some(&wrong))),
            format!(
                "wrong password for the encrypted TLS key file '{}' (from TLS password file '{}')",
                k.display(),
                wrong.display()
            )
        );
        assert_eq!(
            err(server_config(&c, Some(&k), None)),
            format!(
                "TLS key file '{}' is encrypted: give its password with --tls-password-file",
                k.display()
            )
        );
        let empty = d.write("empty", " \n");
        assert_eq!(
            err(server_config(&c, Some(&k), Some(&empty))),
            format!(
                "TLS key file '{}' is encrypted, and TLS password file '{}' is empty",
                k.display(),
                empty.display()
            )
        );

        // The pkcs8 crate's encryption, a non-ASCII password, and the key
        // in the certificate file.
        let (cert, key) = ec_cert();
        let both = d.write("both.pem", format!("{cert}{}", encrypt(&key, "pässwörd")));
        let p = d.write("pw2", "pässwörd\n");
        assert_serves(&server_config(&both, None, Some(&p)).unwrap());
        for bad in ["passwörd", "pässwörd2", "PÄSSWÖRD"] {
            let p = d.write("bad", bad);
            assert!(err(server_config(&both, None, Some(&p)))
                .starts_with("wrong password for the encrypted TLS certificate file"));
        }
    }

    #[test]
    fn password_file_errors() {
        let d = Dir::new();
        let (cert, key) = ec_cert();
        let c = d.write("cert.pem", &cert);
        let k = d.write("key.pem", pem("PRIVATE KEY", &key));
        let missing = d.0.path().join("nope");
        assert_eq!(
            err(server_config(&c, Some(&k), Some(&missing))),
            format!(
                "Failed to read TLS password file: [Errno 2] No such file or directory: '{}'",
                missing.display()
            )
        );
        assert_eq!(
            err(server_config(&c, Some(&k), Some(d.0.path()))),
            format!(
                "Failed to read TLS password file: [Errno 21] Is a directory: '{}'",
                d.0.path().display()
            )
        );
        let latin1 = d.write("latin1", b"p\xe4ss");
        assert_eq!(
            err(server_config(&c, Some(&k), Some(&latin1))),
            format!("TLS password file '{}' is not UTF-8 text", latin1.display())
        );
        // The password file is read before the certificate, as in CPython.
        assert!(err(server_config(&missing, None, Some(&missing)))
            .starts_with("Failed to read TLS password file"));
    }

    #[test]
    fn python_strip() {
        assert!(python_isspace('\u{1f}') && python_isspace('\u{3000}') && python_isspace('\u{85}'));
        assert!(!python_isspace('\u{feff}') && !python_isspace('\u{200b}') && !python_isspace('x'));
    }

    #[test]
    fn key_mismatch() {
        let d = Dir::new();
        let (cert, _) = ec_cert();
        let (_, other) = ec_cert();
        let c = d.write("cert.pem", &cert);
        let k = d.write("key.pem", pem("PRIVATE KEY", &other));
        assert_eq!(
            err(server_config(&c, Some(&k), None)),
            format!(
                "the private key in TLS key file '{}' does not match the certificate in TLS certificate file '{}'",
                k.display(),
                c.display()
            )
        );
        let both = d.write("both.pem", format!("{cert}{}", pem("PRIVATE KEY", &other)));
        assert_eq!(
            err(server_config(&both, None, None)),
            format!(
                "the private key in TLS certificate file '{}' does not match its certificate",
                both.display()
            )
        );
        // An RSA key for an EC certificate.
        let (_, rsa) = rsa_cert();
        let k = d.write("rsa.key", pem("RSA PRIVATE KEY", &inner_key(&rsa)));
        assert!(err(server_config(&c, Some(&k), None)).starts_with("the private key in TLS key file"));
    }

    #[test]
    fn missing_and_unreadable_files() {
        let d = Dir::new();
        let (cert, key) = ec_cert();
        let c = d.write("cert.pem", &cert);
        let k = d.write("key.pem", pem("PRIVATE KEY", &key));
        let missing = d.0.path().join("missing.pem");
        assert_eq!(
            err(server_config(&missing, Some(&k), None)),
            format!(
                "cannot read TLS certificate file '{}': No such file or directory (os error 2)",
                missing.display()
            )
        );
        assert_eq!(
            err(server_config(&c, Some(&missing), None)),
            format!(
                "cannot read TLS key file '{}': No such file or directory (os error 2)",
                missing.display()
            )
        );
        assert_eq!(
            err(server_config(d.0.path(), None, None)),
            format!(
                "cannot read TLS certificate file '{}': Is a directory (os error 21)",
                d.0.path().display()
            )
        );
    }

    #[test]
    fn not_pem() {
        let d = Dir::new();
        let (cert, key) = ec_cert();
        let k = d.write("key.pem", pem("PRIVATE KEY", &key));
        // A DER certificate, and text.
        let der = CertificateDer::from_pem_slice(cert.as_bytes()).unwrap();
        for contents in [der.to_vec(), b"hello\n".to_vec(), Vec::new()] {
            let c = d.write("cert.der", contents);
            assert_eq!(
                err(server_config(&c, Some(&k), None)),
                format!(
                    "no certificate in TLS certificate file '{}' (expected a PEM '-----BEGIN CERTIFICATE-----' block)",
                    c.display()
                )
            );
        }
        // A key where the certificate should be.
        let c = d.write("cert.pem", pem("PRIVATE KEY", &key));
        assert!(err(server_config(&c, Some(&k), None)).starts_with("no certificate in TLS certificate file"));
        // A cut-off block, bad base64, a certificate that is not X.509.
        let c = d.write("cut.pem", &cert[..cert.len() / 2]);
        assert_eq!(
            err(server_config(&c, Some(&k), None)),
            format!(
                "TLS certificate file '{}' is not valid PEM: '-----BEGIN CERTIFICATE-----' has no '-----END CERTIFICATE-----' line",
                c.display()
            )
        );
        let c = d.write("b64.pem", "-----BEGIN CERTIFICATE-----\nno*base64\n-----END CERTIFICATE-----\n");
        assert!(err(server_config(&c, Some(&k), None)).starts_with(&format!(
            "TLS certificate file '{}' is not valid PEM: a CERTIFICATE block: ",
            c.display()
        )));
        let c = d.write("junk.pem", pem("CERTIFICATE", b"\x30\x03\x02\x01\x01"));
        assert!(err(server_config(&c, Some(&k), None)).starts_with(&format!(
            "the first certificate in TLS certificate file '{}' is not usable: ",
            c.display()
        )));
    }

    #[test]
    fn no_key() {
        let d = Dir::new();
        let (cert, _) = ec_cert();
        let c = d.write("cert.pem", &cert);
        assert_eq!(
            err(server_config(&c, None, None)),
            format!(
                "no private key in TLS certificate file '{}': give the key file with --tls-key, or add the key to that file",
                c.display()
            )
        );
        let k = d.write("key.pem", &cert);
        assert_eq!(
            err(server_config(&c, Some(&k), None)),
            format!(
                "no private key in TLS key file '{}' (expected a PEM PRIVATE KEY, RSA PRIVATE KEY, EC PRIVATE KEY or ENCRYPTED PRIVATE KEY block)",
                k.display()
            )
        );
    }

    #[test]
    fn unsupported_keys() {
        let d = Dir::new();
        let (cert, _) = ec_cert();
        let c = d.write("cert.pem", &cert);
        let supported = "(supported: RSA of 2048 to 8192 bits, ECDSA on P-256 or P-384, Ed25519)";
        let k = d.write("ed448.pem", ED448_KEY);
        assert_eq!(
            err(server_config(&c, Some(&k), None)),
            format!("unsupported private key in TLS key file '{}': an Ed448 key {supported}", k.display())
        );
        let k = d.write("dsa.pem", "-----BEGIN DSA PRIVATE KEY-----\nAAAA\n-----END DSA PRIVATE KEY-----\n");
        assert_eq!(
            err(server_config(&c, Some(&k), None)),
            format!(
                "unsupported private key in TLS key file '{}': a 'DSA PRIVATE KEY' PEM block {supported}",
                k.display()
            )
        );
        // A 1024-bit RSA modulus (PKCS#1, cut short) and a SEC1 key on
        // P-521: what ring refuses is named.
        let mut rsa1024 = vec![0x30, 0x81, 0x87, 0x02, 0x01, 0x00, 0x02, 0x81, 0x81, 0x00, 0xc0];
        rsa1024.resize(0x8a, 0x55);
        let k = d.write("rsa1024.pem", pem("RSA PRIVATE KEY", &rsa1024));
        assert_eq!(
            err(server_config(&c, Some(&k), None)),
            format!(
                "unsupported private key in TLS key file '{}': a 1024-bit RSA key {supported}",
                k.display()
            )
        );
        let p521 = [0x30, 0x0f, 2, 1, 1, 4, 1, 0xaa, 0xa0, 7, 6, 5, 0x2b, 0x81, 4, 0, 0x23];
        let k = d.write("p521.pem", pem("EC PRIVATE KEY", &p521));
        assert_eq!(
            err(server_config(&c, Some(&k), None)),
            format!(
                "unsupported private key in TLS key file '{}': an EC key on P-521 {supported}",
                k.display()
            )
        );
        // Encryption the pkcs8 crate does not do: PKCS#12's
        // pbeWithSHAAnd3-KeyTripleDES-CBC, OpenSSL's legacy PEM encryption.
        let pkcs12 = [
            0x30, 0x14, 0x30, 0x0c, 6, 10, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 1, 0x0c, 1, 3, 4, 4, 0, 1, 2,
            3,
        ];
        let k = d.write("pkcs12.pem", pem("ENCRYPTED PRIVATE KEY", &pkcs12));
        let p = d.write("pw", "x");
        assert_eq!(
            err(server_config(&c, Some(&k), Some(&p))),
            format!(
                "cannot decrypt TLS key file '{}': it is encrypted with PBES1 or PKCS#12 encryption (algorithm 1.2.840.113549.1.12.1.3), which is not supported; re-encrypt it with 'openssl pkcs8 -topk8 -v2 aes-256-cbc'",
                k.display()
            )
        );
        let legacy = "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,00112233445566778899AABBCCDDEEFF\n\nAAAA\n-----END RSA PRIVATE KEY-----\n";
        let k = d.write("legacy.pem", legacy);
        assert_eq!(
            err(server_config(&c, Some(&k), Some(&p))),
            format!(
                "cannot decrypt TLS key file '{}': it is encrypted in OpenSSL's legacy PEM format (Proc-Type: 4,ENCRYPTED); convert it with 'openssl pkcs8 -topk8 -v2 aes-256-cbc'",
                k.display()
            )
        );
    }
}
