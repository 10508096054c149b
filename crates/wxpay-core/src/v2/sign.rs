//! APIv2 signing: MD5 or HMAC-SHA256 over the sorted `name=value` pairs and the API v2 key.

use std::fmt;

use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::xml::V2Fields;
use crate::error::SignError;
use crate::secret::ApiV2Key;

/// The APIv2 signature algorithm (`sign_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SignType {
    /// `MD5`, the default when `sign_type` is absent.
    #[default]
    Md5,
    /// `HMAC-SHA256`.
    HmacSha256,
}

impl SignType {
    /// The wire spelling: `MD5` or `HMAC-SHA256`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            SignType::Md5 => "MD5",
            SignType::HmacSha256 => "HMAC-SHA256",
        }
    }

    /// Reads the wire spelling; `None` for anything else.
    #[must_use]
    pub fn from_wire(s: &str) -> Option<SignType> {
        match s {
            "MD5" => Some(SignType::Md5),
            "HMAC-SHA256" => Some(SignType::HmacSha256),
            _ => None,
        }
    }
}

/// An APIv2 signature: upper-case hex, 32 characters (MD5) or 64 (HMAC-SHA256).
///
/// Compared in constant time; it lives on the stack.
#[derive(Clone, Copy)]
pub struct V2Signature {
    hex: [u8; 64],
    len: u8,
}

impl V2Signature {
    /// Makes a signature from a raw digest (16 or 32 bytes; longer input is cut at 32).
    #[must_use]
    pub fn from_digest(digest: &[u8]) -> Self {
        let mut hex = [0u8; 64];
        let n = digest.len().min(32);
        crate::hex::encode_upper_into(&digest[..n], &mut hex);
        // n <= 32, so 2n <= 64 fits in a u8.
        V2Signature { hex, len: (2 * n) as u8 }
    }

    /// The signature as sent: upper-case hex.
    #[must_use]
    pub fn as_str(&self) -> &str {
        // Only ASCII hex digits are ever written.
        std::str::from_utf8(&self.hex[..usize::from(self.len)]).unwrap_or_default()
    }

    /// Constant-time comparison with a received `sign` value (compared as sent: upper case).
    #[must_use]
    pub fn matches(&self, received: &str) -> bool {
        let ours = &self.hex[..usize::from(self.len)];
        ours.len() == received.len() && bool::from(ours.ct_eq(received.as_bytes()))
    }
}

impl fmt::Debug for V2Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "V2Signature({})", self.as_str())
    }
}

/// Something that makes APIv2 signatures: the API v2 key itself ([`ApiV2Key`]), or a
/// service that holds the key elsewhere.
///
/// The signer receives the *payload*: the sorted, `&`-joined `name=value` pairs, **without**
/// the `&key=…` suffix. It appends `&key=` and the key itself, so the key never has to leave
/// it, and returns MD5 or HMAC-SHA256 (keyed with the API v2 key) of the whole, upper-case hex.
///
/// The same signer verifies answers: wxpay recomputes the signature over the answer's
/// fields and compares in constant time.
pub trait V2Signer: Send + Sync {
    /// Signs `payload` (see the trait docs) with `sign_type`.
    ///
    /// # Errors
    /// Whatever stops the signer; the request is then not sent.
    fn sign(&self, sign_type: SignType, payload: &[u8]) -> Result<V2Signature, SignError>;
}

impl V2Signer for ApiV2Key {
    fn sign(&self, sign_type: SignType, payload: &[u8]) -> Result<V2Signature, SignError> {
        let key = self.expose();
        Ok(match sign_type {
            SignType::Md5 => {
                let mut h = Md5::new();
                h.update(payload);
                h.update(b"&key=");
                h.update(key);
                V2Signature::from_digest(&h.finalize())
            }
            SignType::HmacSha256 => {
                let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key)
                    .map_err(|_| SignError::new("HMAC key rejected"))?;
                m.update(payload);
                m.update(b"&key=");
                m.update(key);
                V2Signature::from_digest(&m.finalize().into_bytes())
            }
        })
    }
}

impl<S: V2Signer + ?Sized> V2Signer for std::sync::Arc<S> {
    fn sign(&self, sign_type: SignType, payload: &[u8]) -> Result<V2Signature, SignError> {
        (**self).sign(sign_type, payload)
    }
}

/// Writes the payload to sign into `out`: the non-empty fields other than `sign`, sorted
/// byte-wise by name, as `name=value` joined by `&` (values raw, not URL-encoded). The
/// signer adds the key. `fields` need not be sorted; up to 16 are sorted on the stack.
pub fn write_payload<'a>(fields: impl IntoIterator<Item = (&'a str, &'a str)>, out: &mut Vec<u8>) {
    const STACK_FIELDS: usize = 16;
    // Each field with its sort key: the name's first 8 bytes, zero-padded, big-endian.
    // Ordering by key, then by the whole name, is byte-wise name order (zero sorts first,
    // as a shorter prefix does), with most comparisons settled without memcmp.
    let keyed = |(name, value): (&'a str, &'a str)| {
        let mut key = [0u8; 8];
        for (k, b) in key.iter_mut().zip(name.bytes()) {
            *k = b;
        }
        (u64::from_be_bytes(key), name, value)
    };
    let mut stack = [(0u64, "", ""); STACK_FIELDS];
    let mut heap: Vec<(u64, &str, &str)> = Vec::new();
    let mut n = 0;
    for field in fields.into_iter().filter(|(name, value)| !value.is_empty() && *name != "sign") {
        if n < STACK_FIELDS {
            stack[n] = keyed(field);
        } else {
            if heap.is_empty() {
                heap.extend_from_slice(&stack);
            }
            heap.push(keyed(field));
        }
        n += 1;
    }
    let sorted = if heap.is_empty() { &mut stack[..n] } else { &mut heap[..] };
    sorted.sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.as_bytes().cmp(b.1.as_bytes())));
    for (i, (_, name, value)) in sorted.iter().enumerate() {
        if i > 0 {
            out.push(b'&');
        }
        out.extend_from_slice(name.as_bytes());
        out.push(b'=');
        out.extend_from_slice(value.as_bytes());
    }
}

/// [`write_payload`] for fields already sorted and filtered.
pub(crate) fn write_sorted_payload(sorted: &[(&str, &str)], out: &mut Vec<u8>) {
    for (i, (name, value)) in sorted.iter().enumerate() {
        if i > 0 {
            out.push(b'&');
        }
        out.extend_from_slice(name.as_bytes());
        out.push(b'=');
        out.extend_from_slice(value.as_bytes());
    }
}

/// The payload of [`write_payload`] as a `String` (for display and debugging).
#[must_use]
pub fn payload<'a>(fields: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut out = Vec::with_capacity(256);
    write_payload(fields, &mut out);
    // Built only from `&str` pieces and ASCII separators.
    String::from_utf8_lossy(&out).into_owned()
}

/// Signs a set of fields as APIv2 does: the sign over the non-empty fields other than `sign`.
///
/// # Errors
/// [`SignError`](crate::SignError) from the signer.
pub fn sign_fields<'a>(
    signer: &dyn V2Signer,
    sign_type: SignType,
    fields: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<V2Signature, crate::SignError> {
    let mut buf = Vec::with_capacity(256);
    write_payload(fields, &mut buf);
    signer.sign(sign_type, &buf)
}

/// Verifies the `sign` of a set of APIv2 fields in constant time.
///
/// # Errors
/// [`VerifyError::MissingSign`](crate::VerifyError::MissingSign) when there is no (non-empty)
/// `sign`, [`VerifyError::BadSignature`](crate::VerifyError::BadSignature) when it does not
/// match, and [`ErrorKind::Sign`](crate::ErrorKind::Sign) when the signer fails.
pub fn verify_fields(
    signer: &dyn V2Signer,
    sign_type: SignType,
    fields: &V2Fields,
) -> Result<(), crate::Error> {
    let received = fields.non_empty("sign").ok_or(crate::VerifyError::MissingSign)?;
    let expected = sign_fields(signer, sign_type, fields.iter())?;
    if expected.matches(received) { Ok(()) } else { Err(crate::VerifyError::BadSignature.into()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_sorts_skips_empty_and_sign_and_spills_to_the_heap() {
        assert_eq!(
            payload([("b", "2"), ("sign", "X"), ("a", "1"), ("c", ""), ("B", "0")]),
            "B=0&a=1&b=2"
        );
        // More fields than the stack holds.
        let names: Vec<String> = (0..40).map(|i| format!("f{i:02}")).collect();
        let value = "v".repeat(40);
        let fields: Vec<(&str, &str)> =
            names.iter().rev().map(|n| (n.as_str(), value.as_str())).collect();
        let expected: Vec<String> = names.iter().map(|n| format!("{n}={value}")).collect();
        assert_eq!(payload(fields), expected.join("&"));
    }
}
