//! For servers that stand in for WeChat Pay (`wxpay-sandbox`, or a merchant's own test
//! double): the pieces of the protocol that a server needs, from the same code that wxpay's
//! requests follow, so that no server keeps a second copy of a rule.
//!
//! The other server-side checks live beside the calls they mirror:
//! [`v2::check_close_request`](crate::v2::check_close_request),
//! [`v3::check_out_trade_no`](crate::v3::check_out_trade_no),
//! [`v3::check_transaction_id`](crate::v3::check_transaction_id),
//! [`v3::check_request_headers`](crate::v3::check_request_headers) and
//! [`v3::CloseCall::from_path`](crate::v3::CloseCall::from_path).
//!
//! ```
//! use wxpay_core::server;
//! use wxpay_core::v3::SubOrder;
//!
//! assert_eq!(server::nonce_from_random([0xAB; 16]), "AB".repeat(16));
//! assert!(server::check_close_delay(1_000, 1_299, 300).is_err()); // within 5 minutes
//! let bad = server::check_combined_close("P2015", "wxd678efh567hg6787", &[SubOrder::new("1900000109", "2015#1")]);
//! assert_eq!(bad.unwrap_err().field, "combine_out_trade_no");
//! ```

use crate::close_delay::MIN_CLOSE_DELAY_SECS;
use crate::error::InvalidInput;
use crate::v3::{CloseCombinedOrder, SubOrder};

/// The upper-case hex of `bytes`, as WeChat Pay writes signatures, nonces and serials.
#[must_use]
pub fn hex_upper(bytes: &[u8]) -> String {
    crate::hex::upper(bytes)
}

/// A nonce made from 16 random bytes: 32 upper-case hex characters, as wxpay's own requests
/// carry (the server draws the bytes; the core draws no randomness).
#[must_use]
pub fn nonce_from_random(bytes: [u8; 16]) -> String {
    crate::hex::upper(&bytes)
}

/// Checks a nonce (`nonce_str`): 1 to 32 ASCII letters and digits, the rule wxpay's requests
/// follow.
///
/// # Errors
/// The [`InvalidInput`] that says what is wrong.
pub fn check_nonce(value: &str) -> Result<(), InvalidInput> {
    crate::validate::nonce(value)
}

/// The 5-minute rule as a server applies it: an order created at `created_at` cannot be closed
/// at `now` (Unix seconds) until `min_delay_secs` have passed. WeChat Pay's delay is
/// [`MIN_CLOSE_DELAY_SECS`]; a test server may shorten it (0
/// turns it off). The rule is the one the close calls check before sending.
///
/// # Errors
/// [`InvalidInput::TooEarly`], with the seconds left to wait.
pub fn check_close_delay(
    created_at: u64,
    now: u64,
    min_delay_secs: u64,
) -> Result<(), InvalidInput> {
    // The calls' rule, with the clock (or the creation time) moved by the difference between
    // the delays: the shifted `now` is before the shifted creation time plus
    // `MIN_CLOSE_DELAY_SECS` exactly when `now` is before `created_at + min_delay_secs`, and
    // the wait it reports is the same.
    if min_delay_secs <= MIN_CLOSE_DELAY_SECS {
        let now = now.saturating_add(MIN_CLOSE_DELAY_SECS - min_delay_secs);
        crate::close_delay::close_delay(Some(created_at), now)
    } else {
        let created_at = created_at.saturating_add(min_delay_secs - MIN_CLOSE_DELAY_SECS);
        crate::close_delay::close_delay(Some(created_at), now)
    }
}

/// A request parameter that breaks the API's rules, as a server reports it (APIv3: `400
/// PARAM_ERROR` whose `detail` holds `field`, `location` and the issue).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ParamError {
    /// The field as WeChat Pay names it in `detail.field`: `combine_out_trade_no`,
    /// `combine_appid`, `sub_orders`, or `sub_orders[i].mchid` and so on.
    pub field: String,
    /// Which sub-order, for a sub-order's field (`i` above).
    pub sub_order: Option<usize>,
    /// Where the field was: `uri_template` (the path) or `body`.
    pub location: &'static str,
    /// The rule it breaks.
    pub error: InvalidInput,
}

/// Checks a combined close (`POST /v3/combine-transactions/out-trade-no/{no}/close`) by the
/// rules of [`CloseCombinedOrder::validate`]: the combined order's number, the app id, 1 to 50
/// sub-orders, and each sub-order's ids and order number.
///
/// # Errors
/// The first field that breaks a rule.
pub fn check_combined_close(
    combine_out_trade_no: &str,
    combine_appid: &str,
    sub_orders: &[SubOrder],
) -> Result<(), ParamError> {
    let check = |subs: Vec<SubOrder>| {
        CloseCombinedOrder::new(combine_appid, combine_out_trade_no, subs).validate(0)
    };
    let Err(error) = check(sub_orders.to_vec()) else { return Ok(()) };
    let field = match &error {
        InvalidInput::Empty { field }
        | InvalidInput::TooLong { field, .. }
        | InvalidInput::TooShort { field, .. }
        | InvalidInput::BadCharacter { field, .. } => Some(*field),
        _ => None,
    };
    let (field, sub_order, location) = match field {
        Some("combine_out_trade_no") => ("combine_out_trade_no".to_owned(), None, "uri_template"),
        Some("combine_appid") => ("combine_appid".to_owned(), None, "body"),
        Some(name) => {
            // A sub-order's field: the first sub-order that breaks a rule on its own.
            let i = sub_orders.iter().position(|s| check(vec![s.clone()]).is_err());
            match i {
                Some(i) => (format!("sub_orders[{i}].{name}"), Some(i), "body"),
                None => ("sub_orders".to_owned(), None, "body"),
            }
        }
        None => ("sub_orders".to_owned(), None, "body"),
    };
    Err(ParamError { field, sub_order, location, error })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_and_nonces_are_the_core_s() {
        assert_eq!(hex_upper(&[0x00, 0xAB, 0x0F]), "00AB0F");
        let nonce = nonce_from_random(*b"0123456789abcdef");
        assert_eq!(nonce.len(), 32);
        assert_eq!(check_nonce(&nonce), Ok(()));
        assert!(check_nonce("has space").is_err());
        assert!(check_nonce(&"N".repeat(33)).is_err());
    }

    #[test]
    fn the_close_delay_can_be_set_and_reports_the_wait() {
        assert_eq!(
            check_close_delay(1000, 1299, 300),
            Err(InvalidInput::TooEarly { wait_secs: 1 })
        );
        assert_eq!(check_close_delay(1000, 1300, 300), Ok(()));
        assert_eq!(check_close_delay(1000, 1009, 10), Err(InvalidInput::TooEarly { wait_secs: 1 }));
        assert_eq!(check_close_delay(1000, 1010, 10), Ok(()));
        assert_eq!(check_close_delay(1000, 1000, 0), Ok(()));
        assert_eq!(check_close_delay(1000, 999, 0), Err(InvalidInput::TooEarly { wait_secs: 1 }));
        assert_eq!(
            check_close_delay(1000, 1000, 3600),
            Err(InvalidInput::TooEarly { wait_secs: 3600 })
        );
        assert_eq!(check_close_delay(0, 5, 3600), Err(InvalidInput::TooEarly { wait_secs: 3595 }));
    }

    #[test]
    fn combined_closes_are_checked_by_the_call_s_rules() {
        let sub = |no: &str| SubOrder::new("1900000109", no);
        let ok = [sub("20150806125346"), sub("20150806125347").for_sub_merchant("1900000111")];
        assert_eq!(check_combined_close("P20150806125346", "wxd678efh567hg6787", &ok), Ok(()));

        let e = check_combined_close("P2015#1", "wxd678efh567hg6787", &ok).unwrap_err();
        assert_eq!(
            (e.field.as_str(), e.location, e.sub_order),
            ("combine_out_trade_no", "uri_template", None)
        );
        let e = check_combined_close("P20150806125346", "", &ok).unwrap_err();
        assert_eq!((e.field.as_str(), e.location), ("combine_appid", "body"));

        let e = check_combined_close("P20150806125346", "wx1", &[]).unwrap_err();
        assert_eq!(
            (e.field.as_str(), &e.error),
            ("sub_orders", &InvalidInput::SubOrderCount { count: 0 })
        );
        let many = vec![sub("20150806125346"); 51];
        let e = check_combined_close("P20150806125346", "wx1", &many).unwrap_err();
        assert_eq!(e.error, InvalidInput::SubOrderCount { count: 51 });
        assert!(check_combined_close("P20150806125346", "wx1", &many[..50]).is_ok());

        let bad = [sub("20150806125346"), sub("2015#0806"), sub("short")];
        let e = check_combined_close("P20150806125346", "wx1", &bad).unwrap_err();
        assert_eq!(
            (e.field.as_str(), e.sub_order, e.location),
            ("sub_orders[1].out_trade_no", Some(1), "body")
        );
        let bad = [sub("20150806125346"), SubOrder::new("19000<0109", "20150806125347")];
        let e = check_combined_close("P20150806125346", "wx1", &bad).unwrap_err();
        assert_eq!(e.field, "sub_orders[1].mchid");
        let bad = [sub("20150806125346").sub_appid("wx 1")];
        let e = check_combined_close("P20150806125346", "wx1", &bad).unwrap_err();
        assert_eq!(e.field, "sub_orders[0].sub_appid");
    }
}
