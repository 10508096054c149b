//! Secret newtypes: redacted in `Debug`, zeroized on drop, no `PartialEq`.

use std::fmt;

use zeroize::Zeroizing;

use crate::error::InvalidInput;

/// The merchant's API v2 key (32 characters), used to sign and verify APIv2 messages.
///
/// `Debug` prints `[redacted]`; the bytes are zeroized when the key is dropped. There is
/// deliberately no way to read the key back out.
#[derive(Clone)]
pub struct ApiV2Key(Zeroizing<String>);

impl ApiV2Key {
    /// Takes the key. It must be exactly 32 characters of printable ASCII.
    ///
    /// # Errors
    /// [`InvalidInput::ApiKeyLength`] when the key is not 32 characters, and
    /// [`InvalidInput::BadCharacter`] (without the character, which is secret) when it has
    /// a non-printable or non-ASCII byte.
    pub fn new(key: impl Into<String>) -> Result<Self, InvalidInput> {
        let key = Zeroizing::new(key.into());
        let len = key.chars().count();
        if len != 32 {
            return Err(InvalidInput::ApiKeyLength { len });
        }
        if let Some(position) = key.bytes().position(|b| !b.is_ascii_graphic()) {
            return Err(InvalidInput::BadCharacter {
                field: "api_v2_key",
                character: '?',
                position,
            });
        }
        Ok(ApiV2Key(key))
    }

    pub(crate) fn expose(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for ApiV2Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiV2Key([redacted])")
    }
}

/// The merchant's APIv3 key (32 characters, set in the merchant platform), which decrypts
/// what WeChat Pay encrypts for the merchant: the platform certificates, notifications.
///
/// `Debug` prints `[redacted]`; the bytes are zeroized when the key is dropped; there is no
/// way to read it back out.
#[derive(Clone)]
pub struct ApiV3Key(Zeroizing<[u8; 32]>);

impl ApiV3Key {
    /// Takes the key: exactly 32 bytes of printable ASCII, as the merchant platform sets it.
    ///
    /// # Errors
    /// [`InvalidInput::ApiKeyLength`] for another length, [`InvalidInput::BadCharacter`]
    /// (without the character) for a byte that is not printable ASCII.
    pub fn new(key: impl AsRef<[u8]>) -> Result<Self, InvalidInput> {
        let key = key.as_ref();
        if let Some(position) = key.iter().position(|b| !b.is_ascii_graphic()) {
            return Err(InvalidInput::BadCharacter {
                field: "api_v3_key",
                character: '?',
                position,
            });
        }
        let bytes: [u8; 32] =
            key.try_into().map_err(|_| InvalidInput::ApiKeyLength { len: key.len() })?;
        Ok(ApiV3Key(Zeroizing::new(bytes)))
    }

    pub(crate) fn expose(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for ApiV3Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiV3Key([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_key() {
        let key = ApiV2Key::new("192006250b4c09247ec02edce69f6a2d").unwrap();
        let shown = format!("{key:?} {key:#?}");
        assert!(!shown.contains("192006250b4c"), "{shown}");
        assert!(shown.contains("redacted"));
    }

    #[test]
    fn api_v3_keys_are_32_printable_bytes_and_never_shown() {
        let key = ApiV3Key::new("0123456789abcdefghijklmnopqrstuv").unwrap();
        assert!(!format!("{key:?}").contains("0123"));
        assert_eq!(ApiV3Key::new("short").unwrap_err(), InvalidInput::ApiKeyLength { len: 5 });
        assert!(matches!(
            ApiV3Key::new("0123456789abcdefghijklmnopqrstu\n").unwrap_err(),
            InvalidInput::BadCharacter { character: '?', position: 31, .. }
        ));
    }

    #[test]
    fn wrong_length_is_refused_without_echoing_the_key() {
        let err = ApiV2Key::new("secret-secret-secret").unwrap_err();
        assert_eq!(err, InvalidInput::ApiKeyLength { len: 20 });
        assert!(!err.to_string().contains("secret"));
    }

    #[test]
    fn non_printable_is_refused_without_echoing_the_character() {
        let err = ApiV2Key::new("192006250b4c09247ec02edce69f6a2\u{7}").unwrap_err();
        assert_eq!(
            err,
            InvalidInput::BadCharacter { field: "api_v2_key", character: '?', position: 31 }
        );
    }
}
