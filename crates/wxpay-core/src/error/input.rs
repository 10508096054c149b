//! Errors of the caller's input and keys: nothing was built or sent.

/// Input that wxpay refuses before building a request. Nothing was sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidInput {
    /// A required field is empty.
    #[error("`{field}` must not be empty")]
    Empty {
        /// The field's wire name.
        field: &'static str,
    },
    /// A field is longer than the API allows.
    #[error("`{field}` is {len} characters; at most {max} are allowed")]
    TooLong {
        /// The field's wire name.
        field: &'static str,
        /// The most characters allowed.
        max: usize,
        /// The characters given.
        len: usize,
    },
    /// A field is shorter than the API allows.
    #[error("`{field}` is {len} characters; at least {min} are required")]
    TooShort {
        /// The field's wire name.
        field: &'static str,
        /// The fewest characters allowed.
        min: usize,
        /// The characters given.
        len: usize,
    },
    /// A field holds a character the API does not allow there.
    #[error("`{field}` has {character:?} at position {position}, which is not allowed there")]
    BadCharacter {
        /// The field's wire name.
        field: &'static str,
        /// The offending character.
        character: char,
        /// Its character position (0-based).
        position: usize,
    },
    /// The API v2 key is not 32 characters long (its value is never shown).
    #[error("the API v2 key must be 32 characters, got {len}")]
    ApiKeyLength {
        /// The length given.
        len: usize,
    },
    /// Institutional (service-provider) mode needs a `sub_mch_id`.
    #[error("institutional mode needs `sub_mch_id` (sub_appid alone is not enough)")]
    MissingSubMchId,
    /// The order is too young to close: WeChat Pay refuses closes within 5 minutes of creation.
    #[error(
        "an order can be closed 5 minutes after creation at the earliest; wait {wait_secs} s more"
    )]
    TooEarly {
        /// Seconds to wait before the close is allowed.
        wait_secs: u64,
    },
    /// The call needs credentials of an API generation that the client was not given.
    #[error("this call needs API{api} credentials, which the client was not given")]
    MissingCredentials {
        /// `"v2"`, `"v3"` or `"v2 or v3"`.
        api: &'static str,
    },
    /// The call needs the APIv3 key (to decrypt platform certificates), which the
    /// credentials were not given.
    #[error("this call needs the APIv3 key: V3Credentials::with_api_v3_key")]
    MissingApiV3Key,
    /// A base URL was refused.
    #[error("bad base URL: {reason}")]
    BadBaseUrl {
        /// Why.
        reason: &'static str,
    },
    /// A proxy URL was refused.
    #[error("bad proxy URL: {reason}")]
    BadProxy {
        /// Why.
        reason: &'static str,
    },
    /// A request path or URI could not be formed from the input.
    #[error("bad request path: {reason}")]
    BadPath {
        /// Why.
        reason: &'static str,
    },
    /// The TLS root certificates given to the client builder are not usable.
    #[error("TLS root certificates: {0}")]
    TlsRoots(KeyError),
    /// A combined close needs between 1 and 50 sub-orders.
    #[error("a combined close takes 1 to 50 sub-orders, got {count}")]
    SubOrderCount {
        /// How many were given.
        count: usize,
    },
    /// A setting is outside what wxpay can honour.
    #[error("`{setting}` is {given}; at most {max} is allowed")]
    OutOfRange {
        /// The setting's name.
        setting: &'static str,
        /// The value given.
        given: u64,
        /// The largest value allowed.
        max: u64,
    },
    /// A key or certificate could not be used.
    #[error(transparent)]
    Key(KeyError),
    /// A call machine was polled after it had finished (a driver's mistake): nothing was
    /// sent for that poll.
    #[error("the call had already finished: make a new one")]
    Finished,
}

/// Why a key, public key or certificate could not be loaded. Never contains key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The input is not PEM.
    #[error("not a PEM document")]
    NotPem,
    /// The PEM holds something other than what was asked for (its label is given).
    #[error("expected {expected}, found a PEM `{found}`")]
    WrongPemLabel {
        /// What was expected, in words.
        expected: &'static str,
        /// The PEM label found, e.g. `CERTIFICATE`.
        found: String,
    },
    /// An encrypted private key: decrypt it first (`openssl pkcs8 -in … -nocrypt`).
    #[error("the private key is encrypted; give the unencrypted PKCS#8 `apiclient_key.pem`")]
    Encrypted,
    /// The key is not an RSA key.
    #[error("not an RSA key")]
    NotRsa,
    /// The RSA key is shorter than 2048 bits.
    #[error("RSA keys must be at least 2048 bits")]
    TooSmall,
    /// The key or certificate is malformed; the text says where it failed.
    #[error("malformed key or certificate: {0}")]
    Malformed(String),
}
