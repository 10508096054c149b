//! The APIv2 close endpoint, checked and signed with wxpay-core's own code.

use http::HeaderValue;
use wxpay_core::ApiV2Key;
use wxpay_core::v2::{SignType, V2Fields, sign_fields, verify_fields, xml_document};

use crate::answer::{Answer, AnswerBody, OVERSIZED_BODY_BYTES, nonce, now};
use crate::merchants::{API_V2_KEY, v2_merchant};
use crate::order::{Closing, OrderKey};
use crate::shared::Shared;
use crate::state::{ESCAPE_TEXT, Fault};

/// The business part of a signed answer.
enum Business {
    Success,
    Fail { code: &'static str, description: &'static str },
}

/// Reads a request as a close: `POST` and an XML body. What is not is answered at once, before
/// any fault (the order number the fault scope needs is in the body).
pub(crate) fn read<'a>(
    parts: &http::request::Parts,
    body: &'a [u8],
) -> Result<V2Fields<'a>, Box<Answer>> {
    if parts.method != http::Method::POST {
        return Err(Box::new(communication_failure("REQUIRE_POST_METHOD")));
    }
    V2Fields::parse(body).map_err(|_| Box::new(communication_failure("XML_FORMAT_ERROR")))
}

/// Answers a close read by [`read`], with the APIv2 form of `fault`.
pub(crate) fn close(shared: &Shared, fields: &V2Fields<'_>, fault: Option<Fault>) -> Answer {
    match fault {
        Some(Fault::EscapeText) => return communication_failure(ESCAPE_TEXT),
        Some(Fault::MalformedBody) => {
            return xml_answer(b"<xml><return_code><![CDATA[SUCC".to_vec());
        }
        Some(Fault::OversizedBody) => {
            let big = "x".repeat(OVERSIZED_BODY_BYTES);
            return xml_answer(xml_document([
                ("return_code", "FAIL"),
                ("return_msg", big.as_str()),
            ]));
        }
        _ => {}
    }
    match check(fields) {
        Err(msg) => communication_failure(&msg),
        Ok(request) => {
            let business = match fault {
                Some(Fault::SystemError) => Business::Fail {
                    code: "SYSTEMERROR",
                    description: "系统错误 (sandbox fault)",
                },
                Some(Fault::FrequencyLimited) => Business::Fail {
                    code: "FREQUENCY_LIMITED",
                    description: "频率超限 (sandbox fault)",
                },
                _ => close_order(shared, &request),
            };
            signed_answer(&request, business, fault)
        }
    }
}

/// A checked request: who sent it and what it asks.
struct Request<'a> {
    appid: &'a str,
    mch_id: &'a str,
    sub_mch_id: Option<&'a str>,
    sub_appid: Option<&'a str>,
    out_trade_no: &'a str,
    sign_type: SignType,
}

/// Checks the request as WeChat Pay does: known merchant, matching app, valid signature.
/// The error is the `return_msg` of a communication failure.
fn check<'a>(fields: &'a V2Fields<'a>) -> Result<Request<'a>, String> {
    let request = check_merchant(fields).map_err(str::to_owned)?;
    // Lengths and charsets: the core's rules, which its own requests follow.
    wxpay_core::v2::check_close_request(fields).map_err(|e| e.to_string())?;
    Ok(request)
}

/// Known merchant, matching app and sub-merchant, valid signature.
fn check_merchant<'a>(fields: &'a V2Fields<'a>) -> Result<Request<'a>, &'static str> {
    let mch_id = fields.non_empty("mch_id").ok_or("mch_id is required")?;
    let merchant = v2_merchant(mch_id).ok_or("MCH_NOT_EXISTS")?;
    let appid = fields.non_empty("appid").ok_or("appid is required")?;
    if appid != merchant.appid {
        return Err("APPID_MCHID_NOT_MATCH");
    }
    let sign_type = match fields.non_empty("sign_type") {
        None => SignType::Md5,
        Some(s) => SignType::from_wire(s).ok_or("SIGNERROR")?,
    };
    let key = ApiV2Key::new(API_V2_KEY).map_err(|_| "SYSTEMERROR")?;
    verify_fields(&key, sign_type, fields).map_err(|_| "SIGNERROR")?;
    let out_trade_no = fields.non_empty("out_trade_no").ok_or("out_trade_no is required")?;
    fields.non_empty("nonce_str").ok_or("nonce_str is required")?;
    let sub_mch_id = fields.non_empty("sub_mch_id");
    let sub_appid = fields.non_empty("sub_appid");
    if let Some(sub) = sub_mch_id {
        let known =
            merchant.subs.iter().find(|(id, _)| *id == sub).ok_or("SUB_MCH_ID_NOT_EXISTS")?;
        if sub_appid.is_some_and(|a| a != known.1) {
            return Err("SUB_APPID_NOT_MATCH");
        }
    } else if sub_appid.is_some() {
        return Err("sub_mch_id is required with sub_appid");
    }
    Ok(Request { appid, mch_id, sub_mch_id, sub_appid, out_trade_no, sign_type })
}

fn close_order(shared: &Shared, request: &Request<'_>) -> Business {
    let key = match request.sub_mch_id {
        Some(sub) => OrderKey::sub(request.mch_id, sub, request.out_trade_no),
        None => OrderKey::new(request.mch_id, request.out_trade_no),
    };
    match shared.state.close(&key, now(), shared.config.min_close_delay_secs) {
        Closing::Closed => Business::Success,
        Closing::AlreadyClosed => {
            Business::Fail { code: "ORDERCLOSED", description: "订单已关闭" }
        }
        Closing::Paid => Business::Fail { code: "ORDERPAID", description: "订单已支付" },
        Closing::NotFound => {
            Business::Fail { code: "ORDERNOTEXIST", description: "订单不存在" }
        }
        Closing::TooEarly => {
            Business::Fail { code: "RULE_LIMIT", description: "订单创建5分钟后才可关单" }
        }
    }
}

/// `return_code=FAIL`: unsigned, says nothing about the order.
fn communication_failure(return_msg: &str) -> Answer {
    xml_answer(xml_document([("return_code", "FAIL"), ("return_msg", return_msg)]))
}

/// A `return_code=SUCCESS` answer signed with the merchant's key and the request's algorithm.
fn signed_answer(request: &Request<'_>, business: Business, fault: Option<Fault>) -> Answer {
    let nonce = nonce();
    let mut fields: Vec<(&str, &str)> = vec![
        ("return_code", "SUCCESS"),
        ("return_msg", "OK"),
        ("appid", request.appid),
        ("mch_id", request.mch_id),
    ];
    if let Some(sub) = request.sub_mch_id {
        fields.push(("sub_mch_id", sub));
    }
    if let Some(sub) = request.sub_appid {
        fields.push(("sub_appid", sub));
    }
    fields.push(("nonce_str", &nonce));
    match business {
        Business::Success => fields.extend([("result_code", "SUCCESS"), ("result_msg", "OK")]),
        Business::Fail { code, description } => fields.extend([
            ("result_code", "FAIL"),
            ("result_msg", code),
            ("err_code", code),
            ("err_code_des", description),
        ]),
    }
    let sign = match ApiV2Key::new(API_V2_KEY) {
        Ok(key) => sign_fields(&key, request.sign_type, fields.iter().copied())
            .map(|s| s.as_str().to_owned()),
        Err(_) => Ok(String::new()),
    }
    .unwrap_or_default();
    let sign = match fault {
        Some(Fault::BadSignature | Fault::SignTestProbe) => "0".repeat(sign.len()),
        _ => sign,
    };
    if fault != Some(Fault::MissingSignature) {
        fields.push(("sign", &sign));
    }
    xml_answer(xml_document(fields))
}

fn xml_answer(body: Vec<u8>) -> Answer {
    let mut answer = http::Response::new(AnswerBody::full(body));
    answer
        .headers_mut()
        .insert(http::header::CONTENT_TYPE, HeaderValue::from_static("text/xml; charset=utf-8"));
    answer
}
