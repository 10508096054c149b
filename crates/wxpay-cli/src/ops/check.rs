//! `wxpay check`: what a merchant's settings are worth, learnt from calls that change nothing:
//! a signed `GET /v3/certificates` (APIv3: does the private key match its serial, which key
//! mode is the merchant in, does the APIv3 key decrypt) and an APIv2 query of an order
//! number that cannot exist (does the API v2 key sign as WeChat Pay expects), and the clock
//! skew the APIv3 answers' signed times show.

use wxpay_core::v2::QueryOrderV2;
use wxpay_core::v3::{AnswerTime, DownloadCertificates, QueryOrderV3, SignedAt};
use wxpay_core::{ApiCode, ClientConfig, Error, ErrorKind, QueryAnswer, VerifyError};

use crate::{Failure, runtime};

/// What a signed answer cannot rule out: it names no request, so a replay of one from the
/// last five minutes (the window) would read the same.
const UNLESS_REPLAYED: &str = ", unless someone in the path replays an answer of the last 5 minutes: an answer names no request";

/// A verified `SIGN_ERROR`, to the certificate list or a query.
const SIGNATURE_REFUSED: &str = "APIv3: WeChat Pay refused the request's signature: the private key does not match --serial-no (or the merchant id is wrong)";

/// What the APIv3 answers said of the clocks: each verified answer's signed time, and the
/// time an answer refused as out of the window carried (which no signature vouches for: the
/// window is checked before the signature).
#[derive(Debug, Default)]
pub(crate) struct Clocks {
    verified: Vec<AnswerTime>,
    unverified: Vec<AnswerTime>,
}

impl Clocks {
    /// Notes the time an answer (or a refusal for its time) shows.
    fn note<T>(&mut self, answer: &Result<(T, AnswerTime), Error>) {
        match answer {
            Ok((_, time)) => self.verified.push(*time),
            Err(e) => {
                if let ErrorKind::Verify(VerifyError::StaleTimestamp { timestamp, now, .. }) =
                    e.kind()
                {
                    self.unverified.push(AnswerTime { signed: *timestamp, received: *now });
                }
            }
        }
    }

    /// The clock line; whether the clock is good enough for WeChat Pay (within the 300 s
    /// window in which it takes requests and wxpay believes answers).
    pub(crate) fn report(&self) -> bool {
        let window = wxpay_core::v3::DEFAULT_WINDOW_SECS;
        let side = |skew: i64| if skew >= 0 { "behind" } else { "ahead of" };
        // The latest time an answer refused for it carried (no signature vouches for it).
        let unverified = self.unverified.iter().map(AnswerTime::skew_secs).max();
        // The freshest verified answer: a replayed one only shows an older time.
        let Some(skew) = self.verified.iter().map(AnswerTime::skew_secs).max() else {
            let (good, line) = match unverified {
                Some(skew) => (
                    false,
                    format!(
                        "clock: not checked: an answer carried a time {} s {} this machine's, beyond the {window} s window, where its signature is not checked (if this machine's clock is off, set it: NTP)",
                        skew.unsigned_abs(),
                        if skew >= 0 { "ahead of" } else { "behind" }
                    ),
                ),
                None => (true, "clock: not checked (no APIv3 answer was verified)".to_owned()),
            };
            say!("{line}");
            return good;
        };
        // An answer refused for its time that shows a later time than every verified one:
        // the verified ones may be replays (older) hiding a clock that is behind.
        if let Some(later) = unverified.filter(|u| *u > skew) {
            say!(
                "clock: not checked: the verified answers show WeChat Pay's clock {skew} s from this machine's, but an answer refused for its time shows it {later} s ahead: verified answers may be replays hiding a clock that is behind (set it: NTP)"
            );
            return false;
        }
        let n = skew.unsigned_abs();
        let shown = "as WeChat Pay's signed answer times show (a replayed answer shows an older time, so a replay can hide a clock that is behind)";
        let (good, line) = if n > window {
            (
                false,
                format!(
                    "clock: this machine's clock is {n} s {} WeChat Pay's, {shown}: beyond {window} s WeChat Pay refuses requests and wxpay refuses answers; set the clock (NTP)",
                    side(skew)
                ),
            )
        } else if n > 60 {
            (
                true,
                format!(
                    "clock: this machine's clock is {n} s {} WeChat Pay's, {shown}: within the {window} s window, but set it (NTP) before it drifts out",
                    side(skew)
                ),
            )
        } else {
            (
                true,
                format!(
                    "clock: ok: within {n} s of WeChat Pay's, {shown} (the window is {window} s)"
                ),
            )
        };
        say!("{line}");
        good
    }
}

/// The APIv3 checks: whether all passed, and whether a verified certificate list proved
/// platform certificates.
pub(crate) fn v3(
    config: ClientConfig,
    has_api_v3_key: bool,
    has_public_key: bool,
    clocks: &mut Clocks,
) -> Result<(bool, bool), Failure> {
    if !has_api_v3_key {
        // Not needed to close (a public-key merchant, or certificates given as files): what
        // the settings verify with is checked by a query instead.
        say!(
            "APIv3: no APIv3 key (--api-v3-key-file): the certificate list, and the key mode it tells, not checked"
        );
        return Ok((true, false));
    }
    let client = client(config)?;
    let answer = runtime()?.block_on(client.execute(&SignedAt(DownloadCertificates::new())));
    clocks.note(&answer);
    let listed = answer.is_ok();
    let (good, line) = match answer {
        Ok((certificates, _)) => {
            let serials: Vec<&str> = certificates.iter().map(|c| c.serial()).collect();
            // The list proves platform certificates; it is verified with a certificate, so it
            // says nothing of a public key the settings also give.
            let mode = if has_public_key {
                "platform certificates (the public key given is checked next)"
            } else {
                "platform certificates"
            };
            (
                true,
                format!(
                    "APIv3: ok: WeChat Pay's signed answer says it took the request's signature (the private key matches its serial{}); the APIv3 key decrypts the certificate list ({}); key mode: {mode}",
                    UNLESS_REPLAYED,
                    serials.join(", ")
                ),
            )
        }
        Err(e) => match e.kind() {
            ErrorKind::Api(a) if a.is_no_certificates() => (
                true,
                format!(
                    "APIv3: ok: WeChat Pay's signed answer says it took the request's signature (the private key matches its serial{}); key mode: public key only (no platform certificates{})",
                    UNLESS_REPLAYED,
                    if has_public_key {
                        ""
                    } else {
                        "; give the public key: --public-key-id and --public-key-file"
                    }
                ),
            ),
            ErrorKind::Api(a) if a.verified && a.code == ApiCode::SignError => {
                (false, SIGNATURE_REFUSED.to_owned())
            }
            ErrorKind::Verify(VerifyError::Decrypt { .. }) => (
                false,
                "APIv3: the APIv3 key does not decrypt the certificate list: wrong APIv3 key"
                    .to_owned(),
            ),
            ErrorKind::Verify(VerifyError::UnknownSerial(serial)) => (
                false,
                format!(
                    "APIv3: the answer is signed under {}, which no key configured holds: give the public key (--public-key-id, --public-key-file) or certificates",
                    wxpay_core::escape(serial)
                ),
            ),
            _ => (false, format!("APIv3: {}", crate::report::report(e.kind()))),
        },
    };
    say!("{line}");
    Ok((good, listed))
}

/// Which keys a query check proves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Keys {
    /// The public key, in a configuration that holds no other key.
    PublicKey,
    /// The platform certificates given as files (no APIv3 key: none downloaded).
    Certificates,
}

/// Whether `keys` verify WeChat Pay's answers: an APIv3 query of an order number no merchant
/// uses, with a configuration that verifies with those keys only.
pub(crate) fn query(
    config: ClientConfig,
    keys: Keys,
    clocks: &mut Clocks,
) -> Result<bool, Failure> {
    let client = client(config)?;
    let query = SignedAt(QueryOrderV3::by_out_trade_no(unused_order_number()));
    let answer = runtime()?.block_on(client.execute(&query));
    clocks.note(&answer);
    let (given, file) = match keys {
        Keys::PublicKey => ("the public key given (--public-key-id)", "--public-key-file"),
        Keys::Certificates => {
            ("the platform certificates given", "--platform-cert-file, --platform-cert-dir")
        }
    };
    let (good, line) = match (answer, keys) {
        (Ok(_), Keys::PublicKey) => (true, "APIv3: ok: the public key verifies WeChat Pay's answers (key mode: both, or public key)".to_owned()),
        (Ok(_), Keys::Certificates) => (true, format!("APIv3: ok: the platform certificates given verify WeChat Pay's answers, and its signed answer says it took the request's signature (the private key matches its serial{UNLESS_REPLAYED})")),
        (Err(e), _) => match e.kind() {
            ErrorKind::Verify(VerifyError::UnknownSerial(serial)) if keys == Keys::PublicKey => (false, format!(
                "APIv3: WeChat Pay does not sign with {given}: it signed under {}",
                wxpay_core::escape(serial)
            )),
            ErrorKind::Verify(VerifyError::UnknownSerial(serial)) => (false, format!(
                "APIv3: WeChat Pay signed under {}, which {given} do not hold: give the public key (--public-key-id, --public-key-file) or the APIv3 key (--api-v3-key-file) to download certificates",
                wxpay_core::escape(serial)
            )),
            ErrorKind::Verify(VerifyError::BadSignature) => (false, format!(
                "APIv3: {given} ({file}) do not verify WeChat Pay's answer: wrong key")),
            ErrorKind::Api(a) if a.verified && a.code == ApiCode::SignError => (false, SIGNATURE_REFUSED.to_owned()),
            _ => (false, format!("APIv3: {}", crate::report::report(e.kind()))),
        },
    };
    say!("{line}");
    Ok(good)
}

/// The APIv2 check; whether it passed.
pub(crate) fn v2(config: ClientConfig) -> Result<bool, Failure> {
    let client = client(config)?;
    let answer =
        runtime()?.block_on(client.query(QueryOrderV2::by_out_trade_no(unused_order_number())));
    let (good, line) = match answer {
        Ok(QueryAnswer::NotFound) | Ok(QueryAnswer::Found(_)) => {
            (true, "APIv2: ok: the API v2 key and sign type sign as WeChat Pay expects, and its answer verifies".to_owned())
        }
        Ok(other) => (false, format!("APIv2: an answer wxpay does not know: {other:?}")),
        Err(e) => match e.kind() {
            ErrorKind::Communication { return_msg } => (false, format!(
                "APIv2: WeChat Pay refused the request ({}): check the app id, merchant id, API v2 key and sign type",
                wxpay_core::escape(return_msg)
            )),
            ErrorKind::Verify(_) => (false, "APIv2: the answer does not verify with the API v2 key: wrong key or sign type".to_owned()),
            _ => (false, format!("APIv2: {}", crate::report::report(e.kind()))),
        },
    };
    say!("{line}");
    Ok(good)
}

/// A client for one check.
fn client(config: ClientConfig) -> Result<wxpay_async::Client, Failure> {
    wxpay_async::Client::new(config).map_err(|e| Failure::usage(e.to_string()))
}

/// An order number no merchant uses: a query of it changes nothing and finds nothing.
fn unused_order_number() -> String {
    format!("wxpaycheck{}", wxpay_core::unix_now())
}
