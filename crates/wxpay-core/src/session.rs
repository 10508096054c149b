//! A client's runtime state: what its calls share and change as they go.
//!
//! [`ClientConfig`] is plain, immutable data (as rustls' `ClientConfig`); a [`Session`] is
//! one client's life with it (as rustls' `ClientConnection`): the replay guard (the answers
//! believed so far), and when platform certificates are kept current, when they were last
//! refreshed and whether a refresh is under way. Clients own one session and share it
//! between their clones; two sessions built from one configuration share nothing but the
//! certificate store the configuration names.

use crate::config::ClientConfig;
use crate::refresh::Keeper;
use crate::replay::ReplayGuard;

/// One client's runtime state over its [`ClientConfig`]; calls are machines made from it.
///
/// ```
/// use wxpay_core::{ApiV2Key, ClientConfig, Session, v2::V2Credentials};
///
/// let key = ApiV2Key::new("192006250b4c09247ec02edce69f6a2d")?;
/// let config = ClientConfig::builder().v2(V2Credentials::new("wx2421b1c4370ec43b", "10000100", key)?).build()?;
/// let session = Session::new(config);
/// assert!(session.replay_guard().is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Session {
    config: ClientConfig,
    replay: ReplayGuard,
    keeper: Option<Keeper>,
}

impl Session {
    /// A fresh session: no answer seen, no refresh made yet.
    #[must_use]
    pub fn new(config: ClientConfig) -> Self {
        let keeper = config
            .certificate_refresh()
            .map(|(store, refresh)| Keeper::new(store.clone(), refresh.clone()));
        Session { config, replay: ReplayGuard::new(), keeper }
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// The answers believed so far (each is refused if it comes again).
    #[must_use]
    pub fn replay_guard(&self) -> &ReplayGuard {
        &self.replay
    }

    /// When its platform certificates were last refreshed successfully (or, before any
    /// refresh, when [`CertificateRefresh::refreshed_at`](crate::CertificateRefresh::refreshed_at)
    /// says they were); `None` when it keeps none current or none was refreshed yet.
    #[must_use]
    pub fn certificates_refreshed_at(&self) -> Option<std::time::Instant> {
        self.keeper.as_ref().and_then(Keeper::refreshed)
    }

    pub(crate) fn keeper(&self) -> Option<&Keeper> {
        self.keeper.as_ref()
    }
}
