//! WeChat Pay's error answers: the code, the message, and whether the answer was verified.

use crate::escape::Escaped;

/// Which API generation an answer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ApiVersion {
    /// APIv2 (XML).
    V2,
    /// APIv3 (JSON).
    V3,
}

impl ApiVersion {
    /// `APIv2` or `APIv3`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            ApiVersion::V2 => "APIv2",
            ApiVersion::V3 => "APIv3",
        }
    }
}

/// An error code from WeChat Pay, both generations. Codes wxpay does not know are kept as text.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ApiCode {
    /// Server fault; call again with the same parameters (`SYSTEMERROR`, `SYSTEM_ERROR`).
    SystemError,
    /// The signature check failed (`SIGNERROR`, `SIGN_ERROR`).
    SignError,
    /// The request was not a POST (`REQUIRE_POST_METHOD`).
    RequirePostMethod,
    /// The body is not valid XML (`XML_FORMAT_ERROR`).
    XmlFormatError,
    /// A bad parameter (`PARAM_ERROR`).
    ParamError,
    /// The request breaks the APIv3 rules (`INVALID_REQUEST`).
    InvalidRequest,
    /// No such merchant (`MCH_NOT_EXISTS`).
    MchNotExists,
    /// A business rule limit (`RULE_LIMIT`).
    RuleLimit,
    /// Trade refused for a business reason (`TRADE_ERROR`).
    TradeError,
    /// Too many calls, or the payer is paying right now (`FREQUENCY_LIMITED`).
    FrequencyLimited,
    /// The HTTP status was an error and the body carried no code.
    HttpStatus,
    /// Any other code, as received.
    Other(String),
}

impl ApiCode {
    /// Reads a wire code; both the APIv2 and the APIv3 spellings are understood.
    #[must_use]
    pub fn from_wire(code: &str) -> ApiCode {
        match code {
            "SYSTEMERROR" | "SYSTEM_ERROR" => ApiCode::SystemError,
            "SIGNERROR" | "SIGN_ERROR" => ApiCode::SignError,
            "REQUIRE_POST_METHOD" => ApiCode::RequirePostMethod,
            "XML_FORMAT_ERROR" => ApiCode::XmlFormatError,
            "PARAM_ERROR" => ApiCode::ParamError,
            "INVALID_REQUEST" => ApiCode::InvalidRequest,
            "MCH_NOT_EXISTS" => ApiCode::MchNotExists,
            "RULE_LIMIT" => ApiCode::RuleLimit,
            "TRADE_ERROR" => ApiCode::TradeError,
            "FREQUENCY_LIMITED" => ApiCode::FrequencyLimited,
            other => ApiCode::Other(other.to_owned()),
        }
    }

    /// The code as text (the APIv3 spelling where the two differ).
    #[must_use]
    pub fn as_str(&self) -> &str {
        match self {
            ApiCode::SystemError => "SYSTEM_ERROR",
            ApiCode::SignError => "SIGN_ERROR",
            ApiCode::RequirePostMethod => "REQUIRE_POST_METHOD",
            ApiCode::XmlFormatError => "XML_FORMAT_ERROR",
            ApiCode::ParamError => "PARAM_ERROR",
            ApiCode::InvalidRequest => "INVALID_REQUEST",
            ApiCode::MchNotExists => "MCH_NOT_EXISTS",
            ApiCode::RuleLimit => "RULE_LIMIT",
            ApiCode::TradeError => "TRADE_ERROR",
            ApiCode::FrequencyLimited => "FREQUENCY_LIMITED",
            ApiCode::HttpStatus => "HTTP_STATUS",
            ApiCode::Other(s) => s,
        }
    }
}

/// An error answer from WeChat Pay that is not an order outcome.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "WeChat Pay {} error {} (HTTP {status}){}{}{}",
    .version.name(),
    Escaped(.code.as_str()),
    if .message.is_empty() { "" } else { ": " },
    Escaped(.message),
    if *.verified { "" } else { " (unverified)" }
)]
#[non_exhaustive]
pub struct ApiError {
    /// Which API generation answered.
    pub version: ApiVersion,
    /// The HTTP status (200 for APIv2 business errors).
    pub status: u16,
    /// The error code.
    pub code: ApiCode,
    /// The human-readable message (`err_code_des` in APIv2, `message` in APIv3).
    pub message: String,
    /// APIv3's free-form `detail` object, when present (its keys vary).
    pub detail: Option<serde_json::Value>,
    /// APIv3's `Request-ID` header, when present.
    pub request_id: Option<String>,
    /// Whether the error answer's signature was verified. An unverified error could have
    /// been forged or altered on the way: it never counts as a refusal.
    pub verified: bool,
}

impl ApiError {
    /// An error answer; `detail` and `request_id` empty.
    #[must_use]
    pub fn new(
        version: ApiVersion,
        status: u16,
        code: ApiCode,
        message: impl Into<String>,
        verified: bool,
    ) -> Self {
        ApiError {
            version,
            status,
            code,
            message: message.into(),
            detail: None,
            request_id: None,
            verified,
        }
    }

    /// Whether WeChat Pay reported a fault of its own (`SYSTEMERROR` / `SYSTEM_ERROR`, 5xx):
    /// the request may have been processed.
    #[must_use]
    pub fn is_server_fault(&self) -> bool {
        self.code == ApiCode::SystemError || self.status >= 500
    }

    /// Whether this answer proves WeChat Pay refused the request (the order unchanged): it
    /// is verified, names a code in its signed body, and is not a server fault. An answer
    /// with no code (an empty body under a 4xx status, which the signature does not cover)
    /// proves nothing.
    #[must_use]
    pub fn is_refusal(&self) -> bool {
        self.verified && self.code != ApiCode::HttpStatus && !self.is_server_fault()
    }

    /// Whether it says the merchant has no platform certificates: a verified `404
    /// RESOURCE_NOT_EXISTS` to the certificate list (a merchant in public-key mode only).
    #[must_use]
    pub fn is_no_certificates(&self) -> bool {
        self.verified && self.status == 404 && self.code.as_str() == "RESOURCE_NOT_EXISTS"
    }

    /// Whether calling again with the same parameters may succeed (server faults and
    /// frequency limits).
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        self.is_server_fault() || self.code == ApiCode::FrequencyLimited
    }
}
