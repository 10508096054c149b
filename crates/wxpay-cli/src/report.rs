//! Errors said as text.

/// An error and its causes, each once: `Display` shows the error, `source()` what lies
/// below (an HTTP client's or a signer's own error).
pub(crate) fn report(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        let more = cause.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        next = cause.source();
    }
    text
}

/// When `e` is an answer signed under a key the settings hold none of (after the certificate
/// refresh it set off): which key, and what to set. The serial is network text, escaped.
pub(crate) fn key_not_held(e: &wxpay_core::Error) -> Option<String> {
    use wxpay_core::{ErrorKind, VerifyError};
    let ErrorKind::Verify(VerifyError::UnknownSerial(serial)) = e.kind() else { return None };
    let serial = crate::escape::network(serial);
    Some(if serial.starts_with("PUB_KEY_ID_") {
        format!(
            "answers name WeChat Pay's public key {serial} (in Wechatpay-Serial, which no signature covers), and these settings hold no key for it: if WeChat Pay moved this merchant to its public key, set --public-key-id {serial} and --public-key-file (WXPAY_PUBLIC_KEY_ID, WXPAY_PUBLIC_KEY_FILE) to that key, from the merchant platform"
        )
    } else {
        format!(
            "answers name platform certificate {serial:?} (in Wechatpay-Serial, which no signature covers), and these settings hold no key for it: without --api-v3-key-file (WXPAY_API_V3_KEY_FILE), give it so that certificates are downloaded, or run `wxpay certificates`; with it, the certificate list did not hold that serial either"
        )
    })
}
