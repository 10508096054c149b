//! When WeChat Pay signed an answer: the verified `Wechatpay-Timestamp`, for clock checks.

use crate::endpoint::Endpoint;
use crate::error::{Error, VerifyError};
use crate::operation::{Attempt, Context, Operation, Prepared};
use crate::replay::ReplayGuard;
use crate::v3::header;
use crate::wire::Response;

/// An APIv3 operation whose output also says when WeChat Pay signed the answer: the
/// `Wechatpay-Timestamp` its verified signature covers, and local time when the answer
/// arrived. The answer is read, verified and believed exactly as `O` reads it.
///
/// A clock more than five minutes off fails verification instead
/// ([`VerifyError::StaleTimestamp`], which names both times); within the window,
/// [`AnswerTime::skew_secs`] says how far off it is (to the second, plus the answer's
/// time on the way). For APIv3 operations only: an APIv2 answer carries no time, and is
/// then refused as [`VerifyError::MissingHeader`] after `O` has read it.
///
/// ```
/// use wxpay_core::v3::{AnswerTime, QueryOrderV3, SignedAt};
///
/// let op = SignedAt(QueryOrderV3::by_out_trade_no("1217752501201407033233368018"));
/// // client.execute(&op) returns (QueryAnswer, AnswerTime).
/// let time = AnswerTime { signed: 1_800_000_040, received: 1_800_000_000 };
/// assert_eq!(time.skew_secs(), 40); // WeChat Pay's clock is 40 s ahead of this machine's
/// # let _ = op;
/// ```
#[derive(Debug, Clone)]
pub struct SignedAt<O>(pub O);

/// When a verified APIv3 answer was signed, and when it arrived (Unix seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnswerTime {
    /// The answer's `Wechatpay-Timestamp`, covered by its signature: WeChat Pay's clock.
    pub signed: u64,
    /// Local time when the answer arrived: this machine's clock.
    pub received: u64,
}

impl AnswerTime {
    /// How far WeChat Pay's clock is ahead of this machine's (negative: behind), in seconds.
    #[must_use]
    pub fn skew_secs(&self) -> i64 {
        let ahead = i64::try_from(self.signed.abs_diff(self.received)).unwrap_or(i64::MAX);
        if self.signed >= self.received { ahead } else { -ahead }
    }
}

impl<O: Operation> Operation for SignedAt<O> {
    type Output = (O::Output, AnswerTime);

    fn endpoint(&self, configured: &Endpoint) -> Endpoint {
        self.0.endpoint(configured)
    }

    fn prepare(&self, ctx: &Context, attempt: &Attempt<'_>) -> Result<Prepared, Error> {
        self.0.prepare(ctx, attempt)
    }

    fn parse(
        &self,
        ctx: &Context,
        seen: &ReplayGuard,
        now: u64,
        response: Response,
    ) -> Result<Self::Output, Error> {
        let signed = response
            .headers()
            .get(header::TIMESTAMP)
            .and_then(|v| v.to_str().ok())
            .and_then(|t| t.parse::<u64>().ok());
        let output = self.0.parse(ctx, seen, now, response)?;
        // `O` verified the signature over this very header (or refused the answer).
        let signed = signed.ok_or(VerifyError::MissingHeader(header::TIMESTAMP))?;
        Ok((output, AnswerTime { signed, received: now }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skew_is_signed_and_saturates() {
        let at = |signed, received| AnswerTime { signed, received };
        assert_eq!(at(100, 100).skew_secs(), 0);
        assert_eq!(at(100, 160).skew_secs(), -60);
        assert_eq!(at(700, 100).skew_secs(), 600);
        assert_eq!(at(u64::MAX, 0).skew_secs(), i64::MAX);
        assert_eq!(at(0, u64::MAX).skew_secs(), -i64::MAX);
    }
}
