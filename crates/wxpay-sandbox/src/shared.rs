//! What every connection shares: the state, the configuration, the keys, the replay memory.

use std::sync::Arc;

use crate::config::SandboxConfig;
use crate::faults::Replays;
use crate::state::State;

/// Shared by every connection.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) state: Arc<State>,
    pub(crate) config: SandboxConfig,
    /// Signs in public-key mode.
    pub(crate) signer: wxpay_core::v3::RsaSigner,
    /// Sign in platform-certificate mode, one per [`PLATFORM_CERTIFICATES`](crate::merchants::PLATFORM_CERTIFICATES).
    pub(crate) platform_signers: Vec<wxpay_core::v3::RsaSigner>,
    /// Verifies the merchants' APIv3 request signatures (their API key, by serial).
    pub(crate) merchant_verifier: wxpay_core::v3::PublicKeyVerifier,
    pub(crate) base_url: String,
    /// Set when serving HTTPS.
    pub(crate) tls: Option<Arc<rustls::ServerConfig>>,
    /// Each route's last genuine answer, for [`Fault::Replay`](crate::state::Fault::Replay).
    pub(crate) replays: Replays,
}
