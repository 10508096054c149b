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
