//! What the benchmarks measure, shared by the timing and the allocation benches.

#![allow(dead_code, unreachable_pub, missing_docs, clippy::unwrap_used)]

use wxpay_core::v2::{self, CloseOrderV2, SignType, V2Credentials};
use wxpay_core::{ApiV2Key, BaseUrl, Context};

pub const KEY: &str = "192006250b4c09247ec02edce69f6a2d";
pub const NONCE: &str = "4ca93f17ddf3443ceabf72f26d64fe0e";
pub const TIMESTAMP: u64 = 1_700_000_000;

pub fn v2_ctx(sign_type: SignType) -> Context {
    let key = ApiV2Key::new(KEY).unwrap();
    Context::new().with_v2(
        V2Credentials::new("wx2421b1c4370ec43b", "10000100", key)
            .unwrap()
            .with_sign_type(sign_type),
    )
}

pub fn base() -> BaseUrl {
    BaseUrl::parse(BaseUrl::PRIMARY).unwrap()
}

pub fn close() -> CloseOrderV2 {
    CloseOrderV2::new("1415983244")
}

/// The string-to-sign of the close request `close()` builds, key included.
pub fn v2_request_string_to_sign(sign_type: SignType) -> Vec<u8> {
    let mut fields = vec![
        ("appid", "wx2421b1c4370ec43b"),
        ("mch_id", "10000100"),
        ("nonce_str", NONCE),
        ("out_trade_no", "1415983244"),
    ];
    if sign_type == SignType::HmacSha256 {
        fields.push(("sign_type", "HMAC-SHA256"));
    }
    format!("{}&key={KEY}", v2::payload(fields)).into_bytes()
}

/// The signed success answer from the shared vectors (MD5), and its string-to-sign.
pub const V2_SUCCESS_XML: &str = "<xml><return_code><![CDATA[SUCCESS]]></return_code><return_msg><![CDATA[OK]]></return_msg><appid><![CDATA[wx2421b1c4370ec43b]]></appid><mch_id><![CDATA[10000100]]></mch_id><nonce_str><![CDATA[BFK89FC6rxKCOjLX]]></nonce_str><result_code><![CDATA[SUCCESS]]></result_code><result_msg><![CDATA[OK]]></result_msg><sign><![CDATA[808C1D11E84411F8DF1DF1ADC960B491]]></sign></xml>";
pub const V2_SUCCESS_STRING_TO_SIGN: &str = "appid=wx2421b1c4370ec43b&mch_id=10000100&nonce_str=BFK89FC6rxKCOjLX&result_code=SUCCESS&result_msg=OK&return_code=SUCCESS&return_msg=OK&key=192006250b4c09247ec02edce69f6a2d";

pub fn v2_success_response() -> wxpay_core::Response {
    http::Response::builder()
        .status(200)
        .body(V2_SUCCESS_XML.as_bytes().to_vec())
        .unwrap()
}
