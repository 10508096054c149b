//! The merchant's APIv2 identity: app id, merchant id, signer and algorithm.

use std::fmt;
use std::sync::Arc;

use super::sign::{SignType, V2Signer};
use crate::error::InvalidInput;
use crate::validate;

/// The merchant's APIv2 identity and signer.
///
/// In common mode `appid` and `mch_id` are the merchant's own; in institutional
/// (service-provider) mode they are the service provider's, and each call names the
/// sub-merchant.
#[derive(Clone)]
pub struct V2Credentials {
    pub(crate) appid: String,
    pub(crate) mch_id: String,
    pub(crate) signer: Arc<dyn V2Signer>,
    pub(crate) sign_type: SignType,
    pub(crate) explicit_md5: bool,
}

impl V2Credentials {
    /// Credentials signing with `signer` (an [`ApiV2Key`](crate::ApiV2Key) or your own) and
    /// MD5, WeChat Pay's default.
    ///
    /// # Errors
    /// [`InvalidInput`] when `appid` or `mch_id` is empty, over 32 characters, or holds
    /// anything but printable ASCII without `<>&"'`.
    pub fn new(
        appid: impl Into<String>,
        mch_id: impl Into<String>,
        signer: impl V2Signer + 'static,
    ) -> Result<Self, InvalidInput> {
        let (appid, mch_id) = (appid.into(), mch_id.into());
        validate::id("appid", &appid, 32)?;
        validate::id("mch_id", &mch_id, 32)?;
        Ok(V2Credentials {
            appid,
            mch_id,
            signer: Arc::new(signer),
            sign_type: SignType::Md5,
            explicit_md5: false,
        })
    }

    /// Signs with `sign_type`. `HMAC-SHA256` is always sent as `sign_type`; `MD5` is sent
    /// only when [`send_md5_sign_type`](Self::send_md5_sign_type) asks for it.
    #[must_use]
    pub fn with_sign_type(mut self, sign_type: SignType) -> Self {
        self.sign_type = sign_type;
        self
    }

    /// Sends `sign_type=MD5` explicitly rather than leaving it to the default.
    #[must_use]
    pub fn send_md5_sign_type(mut self, explicit: bool) -> Self {
        self.explicit_md5 = explicit;
        self
    }

    /// The app id.
    #[must_use]
    pub fn appid(&self) -> &str {
        &self.appid
    }

    /// The merchant id.
    #[must_use]
    pub fn mch_id(&self) -> &str {
        &self.mch_id
    }

    /// The signature algorithm.
    #[must_use]
    pub fn sign_type(&self) -> SignType {
        self.sign_type
    }

    /// The signer (to sign or verify APIv2 messages outside a close call, as the sandbox does).
    #[must_use]
    pub fn signer(&self) -> &dyn V2Signer {
        self.signer.as_ref()
    }

    /// The `sign_type` field to send, if any.
    pub(crate) fn sign_type_field(&self) -> Option<&'static str> {
        match self.sign_type {
            SignType::Md5 if !self.explicit_md5 => None,
            t => Some(t.as_str()),
        }
    }
}

impl fmt::Debug for V2Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("V2Credentials")
            .field("appid", &self.appid)
            .field("mch_id", &self.mch_id)
            .field("signer", &"[redacted]")
            .field("sign_type", &self.sign_type)
            .finish()
    }
}
