//! APIv3: JSON over HTTPS, requests signed with the merchant's RSA key, answers verified
//! with WeChat Pay's public key or platform certificate.
//!
//! One file per concern: [`sign`](Signer) (the signer traits), `request` (the signed message
//! and the request's headers), `authorization` (the `Authorization` header), `verify` (answers'
//! signatures), `answer` (error answers, the size cap), `paths` (order numbers in paths),
//! `decrypt` (AES-256-GCM under the APIv3 key), `keys` (PEM keys and certificates),
//! `credentials`; then one per operation: `close`, `certificates`.

mod answer;
mod authorization;
mod certificates;
mod close;
mod credentials;
mod decrypt;
pub(crate) mod keys;
mod message;
mod paths;
mod query;
mod request;
mod sign;
mod signed_at;
mod verify;

pub(crate) use authorization::authorize as authorize_request;
pub use authorization::{AUTH_SCHEME, Authorization};
pub use certificates::{
    DownloadCertificates, PlatformCertificate, PlatformCertificates, read_certificates,
};
pub use close::{CloseCombinedOrder, CloseGlobalOrder, CloseOrderV3, SubOrder, read_close_answer};
pub(crate) use credentials::SignerKind;
pub use credentials::V3Credentials;
pub use decrypt::{AEAD_AES_256_GCM, decrypt_resource};
pub use keys::RsaSigner;
pub use message::request_message;
pub use paths::{
    CloseCall, QueryCall, check_out_trade_no, check_transaction_id, percent_decode, query_pairs,
};
pub use query::{QueryCombinedOrder, QueryOrderV3};
pub use request::{Refusal, check_request_headers};
pub use sign::{AsyncSigner, SignFuture, Signer};
pub use signed_at::{AnswerTime, SignedAt};
pub use verify::{
    DEFAULT_WINDOW_SECS, PlatformCertificateVerifier, PublicKeyVerifier, SIGNATURE_TYPE,
    SIGNTEST_PREFIX, Verifier, VerifierSet, has_signature_headers, header, response_message,
    verifier_from_pem, verify_response,
};
