//! The APIv2 endpoints (close and query), checked and signed with wxpay-core's own code.

use http::HeaderValue;
use wxpay_core::ApiV2Key;
use wxpay_core::v2::{SignType, V2Fields, sign_fields, verify_fields, xml_document};

use crate::answer::{Answer, AnswerBody, OVERSIZED_BODY_BYTES, compact_time, nonce, now};
use crate::merchants::{API_V2_KEY, v2_merchant};
use crate::order::{Closing, NewOrder, OrderKey, OrderState, OrderView};
use crate::shared::Shared;
use crate::state::{ESCAPE_TEXT, Fault};

/// The business part of a signed answer.
enum Business {
    /// `result_code=SUCCESS`, with the fields that say more (a query's order).
    Success(Vec<(&'static str, String)>),
    Fail {
        code: &'static str,
        description: &'static str,
    },
}

/// Reads a request as APIv2 takes it: `POST` and an XML body. What is not is answered at once,
/// before any fault (the order number the fault scope needs is in the body).
pub(crate) fn read<'a>(
    parts: &http::request::Parts,
    body: &'a [u8],
) -> Result<V2Fields<'a>, Box<Answer>> {
    if parts.method != http::Method::POST {
        return Err(Box::new(communication_failure("REQUIRE_POST_METHOD")));
    }
    V2Fields::parse(body).map_err(|_| Box::new(communication_failure("XML_FORMAT_ERROR")))
}

/// The order number a query's faults are scoped by: its `out_trade_no`, else its
/// `transaction_id`.
pub(crate) fn query_scope<'a>(fields: &'a V2Fields<'a>) -> &'a str {
    fields.non_empty("out_trade_no").or_else(|| fields.non_empty("transaction_id")).unwrap_or("")
}

/// The answers a fault makes in place of any APIv2 answer.
fn fault_answer(fault: Option<Fault>) -> Option<Answer> {
    Some(match fault? {
        Fault::EscapeText => communication_failure(ESCAPE_TEXT),
        Fault::MalformedBody => xml_answer(b"<xml><return_code><![CDATA[SUCC".to_vec()),
        Fault::OversizedBody => {
            let big = "x".repeat(OVERSIZED_BODY_BYTES);
            xml_answer(xml_document([("return_code", "FAIL"), ("return_msg", big.as_str())]))
        }
        _ => return None,
    })
}

/// The signed business failures a fault makes in place of the answer.
fn fault_business(fault: Option<Fault>) -> Option<Business> {
    match fault? {
        Fault::SystemError => Some(Business::Fail {
            code: "SYSTEMERROR",
            description: "系统错误 (sandbox fault)",
        }),
        Fault::FrequencyLimited => Some(Business::Fail {
            code: "FREQUENCY_LIMITED",
            description: "频率超限 (sandbox fault)",
        }),
        _ => None,
    }
}

/// Answers a close read by [`read`], with the APIv2 form of `fault`.
pub(crate) fn close(shared: &Shared, fields: &V2Fields<'_>, fault: Option<Fault>) -> Answer {
    if let Some(answer) = fault_answer(fault) {
        return answer;
    }
    let request = match check(fields).and_then(|r| {
        // Lengths and charsets: the core's rules, which its own requests follow.
        wxpay_core::v2::check_close_request(fields).map_err(|e| e.to_string())?;
        Ok(r)
    }) {
        Ok(request) => request,
        Err(msg) => return communication_failure(&msg),
    };
    let Some(out_trade_no) = request.out_trade_no else {
        return communication_failure("out_trade_no is required");
    };
    let business = match fault_business(fault) {
        Some(business) => business,
        None => close_order(shared, &request.key(out_trade_no), fault),
    };
    signed_answer(&request, business, fault)
}

/// Answers a query (`/pay/orderquery`) read by [`read`], with the APIv2 form of `fault`.
pub(crate) fn query(shared: &Shared, fields: &V2Fields<'_>, fault: Option<Fault>) -> Answer {
    if let Some(answer) = fault_answer(fault) {
        return answer;
    }
    let request = match check(fields).and_then(|r| {
        check_query_request(fields).map_err(|e| e.to_string())?;
        Ok(r)
    }) {
        Ok(request) => request,
        Err(msg) => return communication_failure(&msg),
    };
    let business = match fault_business(fault) {
        Some(business) => business,
        None => query_order(shared, &request, fault),
    };
    signed_answer(&request, business, fault)
}

/// A query's fields by the rules of [`check_close_request`](wxpay_core::v2::check_close_request)
/// for what the two share (ids, nonce, sign, `out_trade_no` when sent, `sub_appid` only with
/// `sub_mch_id`), and `transaction_id` (1 to 32 digits) when sent; one of the two order
/// numbers is required.
///
/// Written here until the core has it: `wxpay_core::v2::check_query_request(&V2Fields) ->
/// Result<(), InvalidInput>`. A query by `transaction_id` alone is checked as a close of
/// order `0` with the same other fields, so no rule is copied.
fn check_query_request(fields: &V2Fields<'_>) -> Result<(), wxpay_core::InvalidInput> {
    let transaction_id = fields.non_empty("transaction_id");
    if let Some(t) = transaction_id {
        wxpay_core::v3::check_transaction_id(t)?;
    }
    if fields.non_empty("out_trade_no").is_some() {
        return wxpay_core::v2::check_close_request(fields);
    }
    if transaction_id.is_none() {
        return Err(wxpay_core::InvalidInput::Empty { field: "out_trade_no" });
    }
    let others = fields.iter().filter(|(name, _)| *name != "out_trade_no");
    let document = xml_document(others.chain([("out_trade_no", "0")]));
    let as_close = V2Fields::parse(&document)
        .map_err(|_| wxpay_core::InvalidInput::Empty { field: "transaction_id" })?;
    wxpay_core::v2::check_close_request(&as_close)
}

/// A checked request: who sent it and what it asks.
struct Request<'a> {
    appid: &'a str,
    mch_id: &'a str,
    sub_mch_id: Option<&'a str>,
    sub_appid: Option<&'a str>,
    out_trade_no: Option<&'a str>,
    transaction_id: Option<&'a str>,
    sign_type: SignType,
}

impl Request<'_> {
    /// The merchant's (or sub-merchant's) order `out_trade_no`.
    fn key(&self, out_trade_no: &str) -> OrderKey {
        match self.sub_mch_id {
            Some(sub) => OrderKey::sub(self.mch_id, sub, out_trade_no),
            None => OrderKey::new(self.mch_id, out_trade_no),
        }
    }
}

/// Checks the request as WeChat Pay does: known merchant, matching app and sub-merchant,
/// valid signature, a nonce. The error is the `return_msg` of a communication failure.
fn check<'a>(fields: &'a V2Fields<'a>) -> Result<Request<'a>, String> {
    check_merchant(fields).map_err(str::to_owned)
}

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
    Ok(Request {
        appid,
        mch_id,
        sub_mch_id,
        sub_appid,
        out_trade_no: fields.non_empty("out_trade_no"),
        transaction_id: fields.non_empty("transaction_id"),
        sign_type,
    })
}

fn close_order(shared: &Shared, key: &OrderKey, fault: Option<Fault>) -> Business {
    let now = now();
    if let Some(secs) = fault.and_then(Fault::paying_secs) {
        // The payer is paying as the close arrives: the close is answered as for a paying order.
        shared.state.set_paying(key, secs, OrderState::Unpaid);
        return Business::Fail {
            code: "USERPAYING", description: "用户支付中，需要输入密码"
        };
    }
    let pay_first = fault == Some(Fault::PayDuringClose);
    let keys = std::slice::from_ref(key);
    match shared.state.close_all(keys, now, shared.config.min_close_delay_secs, pay_first) {
        Closing::Closed => Business::Success(Vec::new()),
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
        Closing::UserPaying => Business::Fail {
            code: "USERPAYING",
            description: "用户支付中，需要输入密码",
        },
    }
}

fn query_order(shared: &Shared, request: &Request<'_>, fault: Option<Fault>) -> Business {
    let now = now();
    let state = &shared.state;
    // `transaction_id` wins when both are sent.
    let key = match request.transaction_id {
        Some(t) => state.order_by_transaction_id(request.mch_id, request.sub_mch_id, t),
        None => request.out_trade_no.map(|no| request.key(no)),
    };
    if let Some(key) = &key {
        state.fault_on_order(key, fault, now);
    }
    let view = key.and_then(|key| state.order_at(&key, now).map(|order| OrderView { key, order }));
    let view = match (view, fault == Some(Fault::QueryOtherOrder)) {
        (Some(view), false) => view,
        (Some(view), true) => view.other_order(),
        (None, true) => OrderView {
            key: request.key(request.out_trade_no.unwrap_or_default()),
            order: NewOrder::new(OrderState::Unpaid, now).into_order(now),
        }
        .other_order(),
        (None, false) => {
            return Business::Fail {
                code: "ORDERNOTEXIST", description: "此交易订单号不存在"
            };
        }
    };
    let order = &view.order;
    let mut fields = vec![
        ("trade_state", order.state.trade_state().to_owned()),
        ("out_trade_no", view.key.out_trade_no.clone()),
        ("trade_state_desc", order.state.trade_state_desc().to_owned()),
        ("trade_type", order.trade_type.to_owned()),
    ];
    if let Some(t) = &order.transaction_id {
        fields.push(("transaction_id", t.clone()));
    }
    if order.state.is_paid() {
        fields.push(("total_fee", order.total.to_string()));
        fields.push(("fee_type", "CNY".to_owned()));
        fields.push(("time_end", compact_time(order.paid_at.unwrap_or(now))));
    }
    Business::Success(fields)
}

/// `return_code=FAIL`: unsigned, says nothing about the order.
fn communication_failure(return_msg: &str) -> Answer {
    xml_answer(xml_document([("return_code", "FAIL"), ("return_msg", return_msg)]))
}

/// A `return_code=SUCCESS` answer signed with the merchant's key and the request's algorithm.
fn signed_answer(request: &Request<'_>, business: Business, fault: Option<Fault>) -> Answer {
    let mut fields: Vec<(&str, String)> = vec![
        ("return_code", "SUCCESS".to_owned()),
        ("return_msg", "OK".to_owned()),
        ("appid", request.appid.to_owned()),
        ("mch_id", request.mch_id.to_owned()),
    ];
    if let Some(sub) = request.sub_mch_id {
        fields.push(("sub_mch_id", sub.to_owned()));
    }
    if let Some(sub) = request.sub_appid {
        fields.push(("sub_appid", sub.to_owned()));
    }
    fields.push(("nonce_str", nonce()));
    match business {
        Business::Success(more) => {
            fields.extend([("result_code", "SUCCESS".to_owned()), ("result_msg", "OK".to_owned())]);
            fields.extend(more);
        }
        Business::Fail { code, description } => fields.extend([
            ("result_code", "FAIL".to_owned()),
            ("result_msg", code.to_owned()),
            ("err_code", code.to_owned()),
            ("err_code_des", description.to_owned()),
        ]),
    }
    let pairs = || fields.iter().map(|(k, v)| (*k, v.as_str()));
    let sign = match ApiV2Key::new(API_V2_KEY) {
        Ok(key) => sign_fields(&key, request.sign_type, pairs()).map(|s| s.as_str().to_owned()),
        Err(_) => Ok(String::new()),
    }
    .unwrap_or_default();
    let sign = match fault {
        Some(Fault::BadSignature | Fault::SignTestProbe) => "0".repeat(sign.len()),
        _ => sign,
    };
    let mut pairs: Vec<(&str, &str)> = pairs().collect();
    if fault != Some(Fault::MissingSignature) {
        pairs.push(("sign", &sign));
    }
    xml_answer(xml_document(pairs))
}

fn xml_answer(body: Vec<u8>) -> Answer {
    let mut answer = http::Response::new(AnswerBody::full(body));
    answer
        .headers_mut()
        .insert(http::header::CONTENT_TYPE, HeaderValue::from_static("text/xml; charset=utf-8"));
    answer
}
