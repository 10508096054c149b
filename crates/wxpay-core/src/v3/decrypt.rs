//! Decrypting what WeChat Pay encrypts with the merchant's APIv3 key (AES-256-GCM): the
//! platform certificates in their list.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};

use crate::ApiV3Key;
use crate::error::VerifyError;

/// The only encryption WeChat Pay uses for certificates.
pub const AEAD_AES_256_GCM: &str = "AEAD_AES_256_GCM";

/// Decrypts a resource WeChat Pay encrypted for the merchant (`AEAD_AES_256_GCM`): `nonce`
/// and `associated_data` as given, `ciphertext` base64 of the ciphertext and its 16-byte tag.
///
/// # Errors
/// [`VerifyError::UnsupportedAlgorithm`], or [`VerifyError::Decrypt`] (naming `serial`) for a
/// wrong key or anything altered.
pub fn decrypt_resource(
    key: &ApiV3Key,
    algorithm: &str,
    nonce: &str,
    associated_data: &str,
    ciphertext: &str,
    serial: &str,
) -> Result<zeroize::Zeroizing<Vec<u8>>, VerifyError> {
    if algorithm != AEAD_AES_256_GCM {
        return Err(VerifyError::UnsupportedAlgorithm(algorithm.to_owned()));
    }
    let fail = || VerifyError::Decrypt { serial: serial.to_owned() };
    let nonce = Nonce::try_assume_unique_for_key(nonce.as_bytes()).map_err(|_| fail())?;
    let key = UnboundKey::new(&AES_256_GCM, key.expose()).map_err(|_| fail())?;
    let mut data = zeroize::Zeroizing::new(STANDARD.decode(ciphertext).map_err(|_| fail())?);
    let plain = LessSafeKey::new(key)
        .open_in_place(nonce, Aad::from(associated_data.as_bytes()), &mut data)
        .map_err(|_| fail())?
        .len();
    data.truncate(plain);
    Ok(data)
}
