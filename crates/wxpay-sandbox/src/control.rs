//! The control API under `/__sandbox/`: orders, faults and counters, as JSON.

use http::{HeaderValue, Method};
use serde_json::{Value, json};

use wxpay_core::v3::percent_decode;

use crate::answer::{Answer, AnswerBody, not_found, now};
use crate::merchants::{
    API_V2_KEY, MERCHANT_KEY_PEM, MERCHANT_SERIAL_NO, PLATFORM_CERTIFICATES, V2_MERCHANTS,
    V3_MERCHANTS, WECHATPAY_CERT_PEM, WECHATPAY_CERT_SERIAL, WECHATPAY_PUB_PEM,
    WECHATPAY_PUBLIC_KEY_ID,
};
use crate::order::{OrderKey, OrderState};
use crate::shared::Shared;
use crate::state::{Fault, FaultRule, RotationStep, Route};

/// The prefix of the control API: never a WeChat Pay path.
pub const CONTROL_PREFIX: &str = "/__sandbox/";

/// How old an order made through the control API is unless `created_at` or `age_secs` says
/// otherwise: old enough to close at once.
pub const DEFAULT_ORDER_AGE_SECS: u64 = 3600;

fn reply(status: u16, v: Value) -> Answer {
    let mut answer = http::Response::new(AnswerBody::full(v.to_string()));
    *answer.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::OK);
    answer
        .headers_mut()
        .insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    answer
}

fn bad(why: &str) -> Answer {
    reply(400, json!({ "error": why }))
}

fn why(s: &str) -> String {
    s.to_owned()
}

fn key_of(v: &Value) -> Result<OrderKey, String> {
    let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    let mchid = s("mchid").ok_or_else(|| why("`mchid` is required"))?;
    let out_trade_no = s("out_trade_no").ok_or_else(|| why("`out_trade_no` is required"))?;
    Ok(OrderKey { mchid, sub_mchid: s("sub_mchid"), out_trade_no })
}

fn query(parts: &http::request::Parts) -> Value {
    let mut map = serde_json::Map::new();
    for pair in parts.uri.query().unwrap_or_default().split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        map.insert(percent_decode(k), Value::String(percent_decode(v)));
    }
    Value::Object(map)
}

pub(crate) fn handle(shared: &Shared, parts: &http::request::Parts, body: &[u8]) -> Answer {
    let path = parts.uri.path().strip_prefix(CONTROL_PREFIX).unwrap_or_default();
    let json = || -> Result<Value, String> {
        match serde_json::from_slice(body) {
            Ok(v @ Value::Object(_)) => Ok(v),
            _ => Err(why("the body must be a JSON object")),
        }
    };
    let result = match (&parts.method, path) {
        (&Method::GET, "health") => Ok(reply(200, json!({ "ok": true }))),
        (&Method::GET, "credentials") => Ok(reply(200, credentials(shared))),
        (&Method::GET, "stats") => Ok(reply(
            200,
            json!({
                "requests": shared.state.requests(),
                "orders": shared.state.order_count(),
                "certificate_downloads": shared.state.certificate_downloads(),
            }),
        )),
        (&Method::GET, "certificates") => Ok(certificates(shared)),
        (&Method::POST, "certificates/rotate") => json().and_then(|v| {
            let step = v.get("step").and_then(Value::as_str).and_then(RotationStep::parse);
            let step = step.ok_or_else(|| why("`step` is add, switch or retire"))?;
            shared.state.rotate_certificate(step).map_err(why)?;
            Ok(certificates(shared))
        }),
        (&Method::POST, "orders") => json().and_then(|v| create_order(shared, &v)),
        (&Method::GET, "orders") => {
            key_of(&query(parts)).map(|key| match shared.state.order(&key) {
                Some(o) => reply(
                    200,
                    json!({
                        "state": o.state.as_str(),
                        "created_at": o.created_at,
                        "close_calls": o.close_calls,
                        "closes": o.closes,
                    }),
                ),
                None => reply(404, json!({ "error": "no such order" })),
            })
        }
        (&Method::POST, "orders/pay") => json().and_then(|v| key_of(&v)).map(|key| {
            if shared.state.pay(&key) {
                reply(200, json!({ "state": "paid" }))
            } else {
                reply(409, json!({ "error": "no such order, or it is closed" }))
            }
        }),
        (&Method::POST, "faults") => json().and_then(|v| add_fault(shared, &v)),
        (&Method::DELETE, "faults") => {
            shared.state.clear_faults();
            Ok(reply(200, json!({ "ok": true })))
        }
        _ => Ok(not_found()),
    };
    result.unwrap_or_else(|e| bad(&e))
}

fn create_order(shared: &Shared, v: &Value) -> Result<Answer, String> {
    let mut key = key_of(v)?;
    let state = match v.get("state").and_then(Value::as_str) {
        None => OrderState::Unpaid,
        Some(s) => OrderState::parse(s).ok_or_else(|| why("`state` is unpaid, paid or closed"))?,
    };
    let created_at = match (
        v.get("created_at").and_then(Value::as_u64),
        v.get("age_secs").and_then(Value::as_u64),
    ) {
        (Some(t), _) => t,
        (None, Some(age)) => now().saturating_sub(age),
        (None, None) => now().saturating_sub(DEFAULT_ORDER_AGE_SECS),
    };
    // WeChat Pay's own number for it, for cross-border closes by `transaction_id`.
    let transaction_id = match v.get("transaction_id") {
        None | Some(Value::Null) => None,
        Some(t) => {
            let t = t.as_str().ok_or_else(|| why("`transaction_id` is a string of digits"))?;
            wxpay_core::v3::check_transaction_id(t).map_err(|e| e.to_string())?;
            Some(t.to_owned())
        }
    };
    // `count` makes that many orders, numbered `{out_trade_no}{i:06}` (and
    // `{transaction_id}{i:06}`) from 0.
    match v.get("count").and_then(Value::as_u64) {
        None => {
            shared.state.insert_order(key.clone(), state, created_at);
            if let Some(t) = &transaction_id {
                shared.state.set_transaction_id(&key, t.clone());
            }
        }
        Some(count) if count <= 1_000_000 => {
            let prefix = std::mem::take(&mut key.out_trade_no);
            for i in 0..count {
                key.out_trade_no = format!("{prefix}{i:06}");
                shared.state.insert_order(key.clone(), state, created_at);
                if let Some(t) = &transaction_id {
                    shared.state.set_transaction_id(&key, format!("{t}{i:06}"));
                }
            }
        }
        Some(_) => return Err(why("`count` is at most 1000000")),
    }
    Ok(reply(201, json!({ "state": state.as_str(), "created_at": created_at })))
}

fn add_fault(shared: &Shared, v: &Value) -> Result<Answer, String> {
    let name = v.get("fault").and_then(Value::as_str).ok_or_else(|| why("`fault` is required"))?;
    let delay_ms = match v.get("delay_ms") {
        None | Some(Value::Null) => 0,
        Some(d) => d
            .as_u64()
            .ok_or_else(|| why("`delay_ms` is a whole number of milliseconds, 0 or more"))?,
    };
    let status = match v.get("status") {
        None | Some(Value::Null) => 0,
        Some(s) => s
            .as_u64()
            .and_then(|s| u16::try_from(s).ok())
            .filter(|s| (100..=599).contains(s))
            .ok_or_else(|| why("`status` is an HTTP status, 100 to 599"))?,
    };
    if name == "relabel_status" && status == 0 {
        return Err(why("`relabel_status` needs `status`"));
    }
    let fault = Fault::parse(name, delay_ms, status).ok_or_else(|| {
        why(&format!("unknown `fault` {name:?}; the faults are {}", Fault::NAMES.join(", ")))
    })?;
    let endpoint = match v.get("endpoint").and_then(Value::as_str) {
        None => None,
        Some(e) => Some(Route::parse(e).ok_or_else(|| {
            why("`endpoint` is v2, v3_direct, v3_partner, v3_combined, v3_global or v3_global_id")
        })?),
    };
    let times = match v.get("times") {
        None | Some(Value::Null) => None,
        Some(t) => Some(
            t.as_u64()
                .and_then(|t| u32::try_from(t).ok())
                .filter(|t| *t > 0)
                .ok_or_else(|| why("`times` is a count from 1 (leave it out for every time)"))?,
        ),
    };
    let out_trade_no = v.get("out_trade_no").and_then(Value::as_str).map(str::to_owned);
    shared.state.add_fault(FaultRule { fault, endpoint, out_trade_no, times });
    Ok(reply(201, json!({ "fault": fault.name() })))
}

/// The listed platform certificates' serials and the one that signs.
fn certificates(shared: &Shared) -> Answer {
    let (listed, signing) = shared.state.platform_certificates();
    let serial = |i: usize| PLATFORM_CERTIFICATES[i].0;
    reply(
        200,
        json!({ "listed": listed.into_iter().map(serial).collect::<Vec<_>>(), "signing": serial(signing) }),
    )
}

/// The test credentials (test keys only: this is a sandbox).
fn credentials(shared: &Shared) -> Value {
    json!({
        "base_url": shared.base_url,
        "v2": {
            "api_v2_key": API_V2_KEY,
            "merchants": V2_MERCHANTS.iter().map(|m| json!({
                "mch_id": m.mch_id,
                "appid": m.appid,
                "sub_merchants": m.subs.iter().map(|(id, app)| json!({"sub_mch_id": id, "sub_appid": app})).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        },
        "v3": {
            "merchants": V3_MERCHANTS.iter().map(|m| json!({ "mchid": m.mchid, "sub_mchids": m.subs })).collect::<Vec<_>>(),
            "serial_no": MERCHANT_SERIAL_NO,
            "private_key_pem": MERCHANT_KEY_PEM,
            "wechatpay_public_key_id": WECHATPAY_PUBLIC_KEY_ID,
            "wechatpay_public_key_pem": WECHATPAY_PUB_PEM,
            "wechatpay_cert_serial": WECHATPAY_CERT_SERIAL,
            "wechatpay_cert_pem": WECHATPAY_CERT_PEM,
        },
    })
}
