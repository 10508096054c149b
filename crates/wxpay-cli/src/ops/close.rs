//! Closing one order: the client the settings describe, the close, and what it means for the
//! exit code. No sandbox here: `--sandbox` only changes the settings (`ops::sandbox`).

use wxpay_core::{CloseOrder, CloseOutcome, ConfirmSettings, Error, ErrorKind};

use crate::ops::certificates::KeptCertificates;
use crate::settings::{Purpose, Settings};
use crate::{Failure, exit};

/// The client `settings` describe for `purpose`, and in certificate mode the certificates it
/// keeps current (to write back after the closes).
pub(crate) fn connect(
    settings: &Settings,
    purpose: Purpose,
) -> Result<(wxpay_async::Client, Option<KeptCertificates>), Failure> {
    let built = crate::settings::builder(settings, purpose)?;
    let config = built.builder.build().map_err(|e| Failure::usage(e.to_string()))?;
    let client = wxpay_async::Client::new(config).map_err(|e| Failure::usage(e.to_string()))?;
    Ok((client, built.certificates))
}

/// Closes `job` with `client`, confirmed as `settings` say (`never`: the plain close), and
/// says the result as a record.
pub(crate) async fn close_one(
    client: &wxpay_async::Client,
    no: &str,
    job: CloseOrder,
    settings: ConfirmSettings,
) -> (crate::record::CloseRecord, u8) {
    let policy = settings.policy;
    let result = client.close_confirmed(job, settings).await;
    if let Some(hint) = result.as_ref().err().and_then(crate::report::key_not_held) {
        note!("wxpay: {}", crate::escape::lines(&hint));
    }
    let code = exit_code(result.as_ref().map(|c| c.outcome));
    (crate::record::CloseRecord::confirmed(no, None, &result, policy), code)
}

/// Why the core refuses an order number, as the command says it: a character's position
/// counts from 1, as people and editors count (the core's counts from 0).
pub(crate) fn invalid(e: &wxpay_core::InvalidInput) -> String {
    match e {
        wxpay_core::InvalidInput::BadCharacter { field, character, position } => format!(
            "`{field}` has {character:?} at position {} (counting from 1), which is not allowed there",
            position + 1
        ),
        other => other.to_string(),
    }
}

/// The exit code of a close's (or a confirmed close's) result.
pub(crate) fn exit_code(result: Result<CloseOutcome, &Error>) -> u8 {
    match result {
        Ok(CloseOutcome::Closed | CloseOutcome::AlreadyClosed) => exit::CLOSED,
        Ok(CloseOutcome::Paid) => exit::PAID,
        Ok(CloseOutcome::NotFound) => exit::NOT_FOUND,
        Err(e) if matches!(e.kind(), ErrorKind::InvalidInput(_)) => exit::USAGE,
        Err(e) if e.order_effect().is_unchanged() => exit::UNCHANGED,
        Err(_) => exit::ERROR,
    }
}
