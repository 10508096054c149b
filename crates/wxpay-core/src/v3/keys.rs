//! Loading RSA keys and certificates, and the ring-backed signer.

use std::fmt;

use ring::rand::SystemRandom;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use x509_cert::Certificate;
use x509_cert::der::asn1::{AnyRef, ObjectIdentifier, OctetStringRef, UintRef};
use x509_cert::der::{Decode, DecodePem, Reader};
use x509_cert::spki::{AlgorithmIdentifierRef, SubjectPublicKeyInfoRef};
use zeroize::Zeroizing;

use super::sign::Signer;
use crate::error::{KeyError, SignError};

/// The OID of `rsaEncryption`.
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

/// Decodes a PEM document: its label and its DER bytes (zeroized on drop).
pub(crate) fn decode_pem(pem: &[u8]) -> Result<(String, Zeroizing<Vec<u8>>), KeyError> {
    let pem = trim_to_pem(pem).ok_or(KeyError::NotPem)?;
    let (label, der) = pem_rfc7468::decode_vec(pem).map_err(|_| KeyError::NotPem)?;
    Ok((label.to_owned(), Zeroizing::new(der)))
}

/// The PEM block in `input`, skipping any text before it (as `openssl` output often has).
fn trim_to_pem(input: &[u8]) -> Option<&[u8]> {
    split_pem_block(input).map(|(block, _)| block)
}

/// The first PEM block in `input` (skipping any text before it) and what follows it; `None`
/// when there is no `-----BEGIN ` or it has no complete `-----END …-----` line.
pub(crate) fn split_pem_block(input: &[u8]) -> Option<(&[u8], &[u8])> {
    let start = memchr::memmem::find(input, b"-----BEGIN ")?;
    let rest = &input[start..];
    let end_marker = memchr::memmem::find(rest, b"-----END ")?;
    let close = memchr::memmem::find(&rest[end_marker + 9..], b"-----")? + end_marker + 9 + 5;
    Some(rest.split_at(close))
}

/// An RSA private key that signs APIv3 requests with SHA256-with-RSA (RSASSA-PKCS1-v1_5),
/// backed by ring (constant-time).
///
/// `Debug` prints no key material. The PEM and DER buffers this type reads are zeroized
/// after loading; the parsed key lives inside ring, which does not promise to zeroize it.
pub struct RsaSigner {
    key: RsaKeyPair,
    rng: SystemRandom,
}

impl RsaSigner {
    /// Loads the merchant's API private key from PEM: PKCS#8 (`-----BEGIN PRIVATE KEY-----`,
    /// the `apiclient_key.pem` WeChat Pay issues) or PKCS#1 (`-----BEGIN RSA PRIVATE KEY-----`).
    ///
    /// # Errors
    /// [`KeyError::NotPem`]; [`KeyError::WrongPemLabel`] for a public key or certificate;
    /// [`KeyError::Encrypted`]; [`KeyError::NotRsa`]; [`KeyError::TooSmall`] under 2048 bits;
    /// [`KeyError::Malformed`] otherwise.
    pub fn from_pem(pem: impl AsRef<[u8]>) -> Result<Self, KeyError> {
        let (label, der) = decode_pem(pem.as_ref())?;
        match label.as_str() {
            "PRIVATE KEY" => Self::from_pkcs8_der(&der),
            "RSA PRIVATE KEY" => Self::from_pkcs1_der(&der),
            "ENCRYPTED PRIVATE KEY" => Err(KeyError::Encrypted),
            "EC PRIVATE KEY" | "DSA PRIVATE KEY" | "OPENSSH PRIVATE KEY" => Err(KeyError::NotRsa),
            _ => Err(KeyError::WrongPemLabel { expected: "a private key", found: label }),
        }
    }

    /// Loads a PKCS#8 DER private key.
    ///
    /// # Errors
    /// As [`from_pem`](Self::from_pem).
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, KeyError> {
        check_size(private_modulus_bits(pkcs8_rsa_key(der)?)?)?;
        let key = RsaKeyPair::from_pkcs8(der).map_err(rejected)?;
        Ok(RsaSigner { key, rng: SystemRandom::new() })
    }

    /// Loads a PKCS#1 DER private key.
    ///
    /// # Errors
    /// As [`from_pem`](Self::from_pem).
    pub fn from_pkcs1_der(der: &[u8]) -> Result<Self, KeyError> {
        check_size(private_modulus_bits(der)?)?;
        let key = RsaKeyPair::from_der(der).map_err(rejected)?;
        Ok(RsaSigner { key, rng: SystemRandom::new() })
    }

    /// The key's size in bits.
    #[must_use]
    pub fn bits(&self) -> usize {
        self.key.public().modulus_len() * 8
    }
}

/// What ring still refuses once the structure, the algorithm and the size were checked.
fn rejected(e: ring::error::KeyRejected) -> KeyError {
    KeyError::Malformed(format!("the private key was rejected ({e})"))
}

fn malformed(e: x509_cert::der::Error) -> KeyError {
    KeyError::Malformed(e.to_string())
}

/// RSA keys under 2048 bits are refused.
fn check_size(bits: usize) -> Result<(), KeyError> {
    if bits < 2048 { Err(KeyError::TooSmall) } else { Ok(()) }
}

/// The bit length of an unsigned big-endian integer.
fn bit_len(n: UintRef<'_>) -> usize {
    let bytes = n.as_bytes();
    bytes.first().map_or(0, |first| bytes.len() * 8 - first.leading_zeros() as usize)
}

/// The RSA key inside a PKCS#8 `PrivateKeyInfo ::= SEQUENCE { version, algorithm,
/// privateKey OCTET STRING, [attributes], [publicKey] }`; `NotRsa` for another algorithm.
fn pkcs8_rsa_key(der: &[u8]) -> Result<&[u8], KeyError> {
    let (algorithm, key) = AnyRef::from_der(der)
        .and_then(|info| {
            info.sequence(|r| {
                let _version = UintRef::decode(r)?;
                let algorithm = AlgorithmIdentifierRef::decode(r)?;
                let key = OctetStringRef::decode(r)?;
                while !r.is_finished() {
                    AnyRef::decode(r)?;
                }
                Ok((algorithm.oid, key.as_bytes()))
            })
        })
        .map_err(malformed)?;
    if algorithm != RSA_ENCRYPTION {
        return Err(KeyError::NotRsa);
    }
    Ok(key)
}

/// The modulus size of a PKCS#1 `RSAPrivateKey ::= SEQUENCE { version, modulus, … }`.
fn private_modulus_bits(der: &[u8]) -> Result<usize, KeyError> {
    AnyRef::from_der(der)
        .and_then(|key| {
            key.sequence(|r| {
                let _version = UintRef::decode(r)?;
                let modulus = UintRef::decode(r)?;
                while !r.is_finished() {
                    AnyRef::decode(r)?;
                }
                Ok(bit_len(modulus))
            })
        })
        .map_err(malformed)
}

/// The modulus size of a PKCS#1 `RSAPublicKey ::= SEQUENCE { modulus, publicExponent }`.
fn public_modulus_bits(der: &[u8]) -> Result<usize, KeyError> {
    AnyRef::from_der(der)
        .and_then(|key| {
            key.sequence(|r| {
                let modulus = UintRef::decode(r)?;
                let _exponent = UintRef::decode(r)?;
                Ok(bit_len(modulus))
            })
        })
        .map_err(malformed)
}

impl Signer for RsaSigner {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignError> {
        let mut signature = vec![0u8; self.key.public().modulus_len()];
        self.key
            .sign(&RSA_PKCS1_SHA256, &self.rng, message, &mut signature)
            .map_err(|_| SignError::new("RSA signing failed"))?;
        Ok(signature)
    }

    fn signature_len(&self) -> usize {
        self.key.public().modulus_len()
    }
}

impl fmt::Debug for RsaSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RsaSigner({} bits, [redacted])", self.bits())
    }
}

/// An RSA public key (PKCS#1 `RSAPublicKey` DER, as ring takes it).
#[derive(Clone)]
pub(crate) struct RsaPublicKey {
    der: Vec<u8>,
}

impl RsaPublicKey {
    /// From a PEM `PUBLIC KEY` (SubjectPublicKeyInfo) or `RSA PUBLIC KEY` (PKCS#1).
    pub(crate) fn from_pem(pem: &[u8]) -> Result<Self, KeyError> {
        let (label, der) = decode_pem(pem)?;
        match label.as_str() {
            "PUBLIC KEY" => Self::from_spki_der(&der),
            "RSA PUBLIC KEY" => Self::checked(der.to_vec()),
            "PRIVATE KEY" | "RSA PRIVATE KEY" | "CERTIFICATE" => {
                Err(KeyError::WrongPemLabel { expected: "a public key", found: label })
            }
            _ => Err(KeyError::WrongPemLabel { expected: "a public key", found: label }),
        }
    }

    pub(crate) fn from_spki_der(der: &[u8]) -> Result<Self, KeyError> {
        let spki = SubjectPublicKeyInfoRef::from_der(der)
            .map_err(|e| KeyError::Malformed(e.to_string()))?;
        if spki.algorithm.oid != RSA_ENCRYPTION {
            return Err(KeyError::NotRsa);
        }
        Self::checked(spki.subject_public_key.raw_bytes().to_vec())
    }

    /// Checks the key is a DER `RSAPublicKey` of at least 2048 bits.
    fn checked(der: Vec<u8>) -> Result<Self, KeyError> {
        check_size(public_modulus_bits(&der)?)?;
        Ok(RsaPublicKey { der })
    }

    pub(crate) fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        ring::signature::UnparsedPublicKey::new(
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            &self.der,
        )
        .verify(message, signature)
        .is_ok()
    }
}

/// A parsed X.509 certificate's serial, validity and RSA public key.
pub(crate) struct ParsedCertificate {
    pub(crate) serial: String,
    pub(crate) not_before: u64,
    pub(crate) not_after: u64,
    pub(crate) key: RsaPublicKey,
}

pub(crate) fn parse_certificate(pem: &[u8]) -> Result<ParsedCertificate, KeyError> {
    let pem = trim_to_pem(pem).ok_or(KeyError::NotPem)?;
    let (label, _) = pem_rfc7468::decode_vec(pem).map_err(|_| KeyError::NotPem)?;
    if label != "CERTIFICATE" {
        return Err(KeyError::WrongPemLabel { expected: "a certificate", found: label.to_owned() });
    }
    let cert = Certificate::from_pem(pem).map_err(|e| KeyError::Malformed(e.to_string()))?;
    let tbs = &cert.tbs_certificate;
    let spki = &tbs.subject_public_key_info;
    if spki.algorithm.oid != RSA_ENCRYPTION {
        return Err(KeyError::NotRsa);
    }
    let key = RsaPublicKey::checked(spki.subject_public_key.raw_bytes().to_vec())?;
    Ok(ParsedCertificate {
        serial: serial_hex(tbs.serial_number.as_bytes()),
        not_before: tbs.validity.not_before.to_unix_duration().as_secs(),
        not_after: tbs.validity.not_after.to_unix_duration().as_secs(),
        key,
    })
}

/// Upper-case hex of a serial number, without DER's leading zero padding.
fn serial_hex(bytes: &[u8]) -> String {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len().saturating_sub(1));
    crate::hex::upper(&bytes[start..])
}
