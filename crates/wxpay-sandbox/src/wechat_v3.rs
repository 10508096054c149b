//! The APIv3 close endpoints, checked and signed with wxpay-core's own code.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::{HeaderValue, StatusCode};
use serde_json::{Value, json};
use wxpay_core::server::{check_combined_close, check_nonce};
use wxpay_core::v3::{Authorization, Signer, SubOrder, Verifier, header, response_message};

use crate::answer::{Answer, AnswerBody, OVERSIZED_BODY_BYTES, nonce, now, plain, rfc3339};
use crate::config::{AnswerMode, KeyMode};
use crate::merchants::{
    API_V3_KEY, MERCHANT_SERIAL_NO, PLATFORM_CERTIFICATES, WECHATPAY_PUBLIC_KEY_ID, v3_merchant,
};
use crate::order::{Closing, OrderKey};
use crate::shared::Shared;
use crate::state::{CombinedOrder, ESCAPE_TEXT, Fault, Route};

/// The serial of [`Fault::ForgedSerial`] answers: no platform certificate's.
const FORGED_SERIAL: &str = "F0F0F0F0F0F0F0F0F0F0F0F0F0F0F0F0F0F0F0F0";

/// The message of the certificate list's `404 RESOURCE_NOT_EXISTS` to a merchant that has
/// only the WeChat Pay public key.
const NO_CERTIFICATES: &str = "无可用的平台证书，请在商户平台-API安全申请使用微信支付公钥 (the merchant uses the WeChat Pay public key)";

/// An APIv3 answer before signing.
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) body: Vec<u8>,
}

impl Reply {
    fn no_content() -> Self {
        Reply { status: 204, body: Vec::new() }
    }

    pub(crate) fn error(status: u16, code: &str, message: &str, detail: Option<Value>) -> Self {
        let mut v = json!({ "code": code, "message": message });
        if let Some(d) = detail {
            v["detail"] = d;
        }
        Reply { status, body: v.to_string().into_bytes() }
    }

    /// The answer to a close of an order whose payer is entering a password.
    fn user_paying() -> Self {
        Reply::error(202, "USER_PAYING", "用户支付中，需要输入密码", None)
    }
}

/// The answers a fault makes in place of any APIv3 answer (a signed error, or a body that
/// cannot be read).
pub(crate) fn fault_reply(fault: Option<Fault>) -> Option<Reply> {
    Some(match fault? {
        Fault::SystemError => Reply::error(500, "SYSTEM_ERROR", "系统错误 (sandbox fault)", None),
        Fault::FrequencyLimited => {
            Reply::error(429, "FREQUENCY_LIMITED", "频率超限 (sandbox fault)", None)
        }
        Fault::MalformedBody => Reply { status: 400, body: b"{\"code\":\"PARAM_ERR".to_vec() },
        Fault::OversizedBody => Reply {
            status: 400,
            body: format!(
                r#"{{"code":"PARAM_ERROR","message":"{}"}}"#,
                "x".repeat(OVERSIZED_BODY_BYTES)
            )
            .into_bytes(),
        },
        _ => return None,
    })
}

/// Answers a close on `endpoint` for the order (or WeChat Pay number) `out_trade_no` from the
/// path, with the APIv3 form of `fault`.
pub(crate) fn close(
    shared: &Shared,
    endpoint: Route,
    out_trade_no: &str,
    parts: &http::request::Parts,
    body: &[u8],
    fault: Option<Fault>,
) -> Answer {
    if fault == Some(Fault::EscapeText) {
        return plain(400, ESCAPE_TEXT);
    }
    let reply = match fault_reply(fault) {
        Some(reply) => reply,
        None => process(shared, endpoint, out_trade_no, parts, body, fault),
    };
    sign(shared, parts, reply, fault)
}

/// Checks the request as WeChat Pay does and closes the order(s).
fn process(
    shared: &Shared,
    endpoint: Route,
    out_trade_no: &str,
    parts: &http::request::Parts,
    body: &[u8],
    fault: Option<Fault>,
) -> Reply {
    if parts.method != http::Method::POST {
        return Reply::error(405, "INVALID_REQUEST", "close order takes POST", None);
    }
    if let Err(refusal) = wxpay_core::v3::check_request_headers(&parts.headers, !body.is_empty()) {
        return Reply::error(refusal.status, refusal.code, &refusal.message, None);
    }
    let auth = match check_signature(shared, parts, body) {
        Ok(auth) => auth,
        Err(reply) => return reply,
    };
    let Some(merchant) = v3_merchant(&auth.mchid) else {
        return Reply::error(400, "MCH_NOT_EXISTS", "商户号不存在", None);
    };
    let json: Value = match serde_json::from_slice(body) {
        Ok(v @ Value::Object(_)) => v,
        _ => {
            let detail = json!({ "location": "body", "issue": "not a JSON object" });
            return Reply::error(400, "PARAM_ERROR", "请求体不是合法的JSON", Some(detail));
        }
    };
    let field = |name: &str| json.get(name).and_then(Value::as_str);
    let missing = |name: &str| {
        let detail = json!({ "field": name, "location": "body", "value": "" });
        Reply::error(
            400,
            "PARAM_ERROR",
            &format!("输入源“/body/{name}”映射到字段“{name}”必填性规则校验失败，此字段为必填项"),
            Some(detail),
        )
    };
    let (field_name, checked) = if endpoint == Route::V3GlobalById {
        ("transaction_id", wxpay_core::v3::check_transaction_id(out_trade_no))
    } else {
        ("out_trade_no", wxpay_core::v3::check_out_trade_no(out_trade_no))
    };
    if checked.is_err() {
        let detail =
            json!({ "field": field_name, "location": "uri_template", "value": out_trade_no });
        return Reply::error(400, "PARAM_ERROR", &format!("{field_name} 格式错误"), Some(detail));
    }
    let vector_ids = shared.config.accept_vector_ids;
    // Who closes: the merchant itself (`mchid`), or for its sub-merchant (`sp_mchid`).
    let direct = || -> Result<OrderKey, Reply> {
        let Some(mchid) = field("mchid") else { return Err(missing("mchid")) };
        if mchid != auth.mchid {
            return Err(Reply::error(400, "INVALID_REQUEST", "mchid 与签名商户号不一致", None));
        }
        Ok(OrderKey::new(mchid, out_trade_no))
    };
    let partner = || -> Result<OrderKey, Reply> {
        let Some(sp) = field("sp_mchid") else { return Err(missing("sp_mchid")) };
        let Some(sub) = field("sub_mchid") else { return Err(missing("sub_mchid")) };
        if sp != auth.mchid {
            return Err(Reply::error(400, "INVALID_REQUEST", "sp_mchid 与签名商户号不一致", None));
        }
        // Its sub-merchants in this run: the shared vectors' only when the sandbox accepts them.
        if !merchant.accepted_subs(vector_ids).contains(&sub) {
            return Err(not_a_sub_merchant(None));
        }
        Ok(OrderKey::sub(sp, sub, out_trade_no))
    };

    let keys: Vec<OrderKey> = match endpoint {
        Route::V3Direct => match direct() {
            Ok(key) => vec![key],
            Err(reply) => return reply,
        },
        Route::V3Partner => match partner() {
            Ok(key) => vec![key],
            Err(reply) => return reply,
        },
        Route::V3Global | Route::V3GlobalById => {
            let key = if field("sp_mchid").is_some() { partner() } else { direct() };
            let key = match key {
                Ok(key) => key,
                Err(reply) => return reply,
            };
            if endpoint == Route::V3Global {
                vec![key]
            } else {
                // The path names WeChat Pay's number: find the merchant's order by it.
                match shared.state.order_by_transaction_id(
                    &key.mchid,
                    key.sub_mchid.as_deref(),
                    out_trade_no,
                ) {
                    Some(order) => vec![order],
                    None => return Reply::error(404, "ORDER_NOT_EXIST", "订单不存在", None),
                }
            }
        }
        Route::V3Combined => {
            let Some(combine_appid) = field("combine_appid") else {
                return missing("combine_appid");
            };
            let Some(subs) =
                json.get("sub_orders").and_then(Value::as_array).filter(|s| !s.is_empty())
            else {
                return missing("sub_orders");
            };
            let mut sub_orders = Vec::with_capacity(subs.len());
            for sub in subs {
                let text = |name: &str| sub.get(name).and_then(Value::as_str);
                let (Some(mchid), Some(no)) = (text("mchid"), text("out_trade_no")) else {
                    return missing("sub_orders.mchid");
                };
                let mut sub_order = SubOrder::new(mchid, no);
                if let Some(s) = text("sub_mchid") {
                    sub_order = sub_order.for_sub_merchant(s);
                }
                if let Some(s) = text("sub_appid") {
                    sub_order = sub_order.sub_appid(s);
                }
                sub_orders.push((mchid, no, text("sub_mchid"), sub_order));
            }
            // The combined order's rules (1 to 50 sub-orders, ids, order numbers): the core's.
            let checked: Vec<SubOrder> = sub_orders.iter().map(|s| s.3.clone()).collect();
            if let Err(e) = check_combined_close(out_trade_no, combine_appid, &checked) {
                let value = match (e.sub_order, e.field.rsplit('.').next()) {
                    (Some(i), Some(name)) => subs[i].get(name).cloned().unwrap_or(Value::Null),
                    _ if e.field == "combine_out_trade_no" => json!(out_trade_no),
                    _ if e.field == "combine_appid" => json!(combine_appid),
                    _ => json!(subs.len()),
                };
                let detail = json!({
                    "field": e.field,
                    "value": value,
                    "location": e.location,
                    "issue": e.error.to_string(),
                });
                let message = format!("{} 格式错误: {}", e.field, e.error);
                return Reply::error(400, "PARAM_ERROR", &message, Some(detail));
            }
            let mut keys: Vec<OrderKey> = Vec::with_capacity(sub_orders.len());
            for (i, (mchid, no, sub_mchid, _)) in sub_orders.into_iter().enumerate() {
                // Every sub-order is the signing merchant's, or a merchant's it combines for (the
                // shared vectors' only when the sandbox accepts them).
                if mchid != auth.mchid
                    && !merchant.accepted_combined_with(vector_ids).contains(&mchid)
                {
                    let detail = json!({
                        "field": format!("sub_orders[{i}].mchid"),
                        "value": mchid,
                        "location": "body",
                        "issue": "not the signing merchant's, nor one it combines orders for",
                    });
                    return Reply::error(
                        400,
                        "INVALID_REQUEST",
                        "子单商户号与合单发起方不匹配",
                        Some(detail),
                    );
                }
                // A sub-order's sub-merchant is one of its merchant's, as a partner close's is
                // the service provider's: refused with the same answer otherwise.
                if let Some(sub) = sub_mchid {
                    let subs = v3_merchant(mchid).map_or(&[][..], |m| m.accepted_subs(vector_ids));
                    if !subs.contains(&sub) {
                        return not_a_sub_merchant(Some(json!({
                            "field": format!("sub_orders[{i}].sub_mchid"),
                            "value": sub,
                            "location": "body",
                            "issue": "not a sub-merchant of the sub-order's merchant",
                        })));
                    }
                }
                keys.push(match sub_mchid {
                    Some(s) => OrderKey::sub(mchid, s, no),
                    None => OrderKey::new(mchid, no),
                });
            }
            // What a query of the combined order will find.
            let combined =
                CombinedOrder { combine_appid: combine_appid.to_owned(), sub_orders: keys.clone() };
            shared.state.remember_combined(&auth.mchid, out_trade_no, combined);
            keys
        }
        _ => return Reply::error(404, "NOT_FOUND", "not a close path", None),
    };

    let now = now();
    if fault.and_then(Fault::paying_secs).is_some() {
        // The payer is paying as the close arrives: answered as the close of a paying order.
        for key in &keys {
            shared.state.fault_on_order(key, fault, now);
        }
        return Reply::user_paying();
    }
    let pay_first = fault == Some(Fault::PayDuringClose);
    match shared.state.close_all(&keys, now, shared.config.min_close_delay_secs, pay_first) {
        Closing::UserPaying => Reply::user_paying(),
        Closing::Closed => Reply::no_content(),
        Closing::AlreadyClosed => Reply::error(400, "ORDER_CLOSED", "订单已关闭", None),
        Closing::Paid => Reply::error(400, "ORDERPAID", "订单已支付", None),
        Closing::NotFound => Reply::error(404, "ORDER_NOT_EXIST", "订单不存在", None),
        Closing::TooEarly => Reply::error(403, "RULE_LIMIT", "订单创建5分钟后才可关单", None),
    }
}

/// The answer to a `sub_mchid` that is not a sub-merchant of the service provider (the
/// partner close's `sp_mchid`, a combined sub-order's `mchid`): WeChat Pay's
/// `400 INVALID_REQUEST`, signed like every answer. `detail` names a sub-order's field.
pub(crate) fn not_a_sub_merchant(detail: Option<Value>) -> Reply {
    Reply::error(400, "INVALID_REQUEST", "sub_mchid 不是该服务商的子商户", detail)
}

/// Verifies the request's `Authorization` with the merchant's public key, as WeChat Pay does.
pub(crate) fn check_signature(
    shared: &Shared,
    parts: &http::request::Parts,
    body: &[u8],
) -> Result<Authorization, Reply> {
    let sign_error = |why: &str| Reply::error(401, "SIGN_ERROR", &format!("签名错误: {why}"), None);
    let header = parts
        .headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| sign_error("no Authorization header"))?;
    let auth = Authorization::parse(header).map_err(|why| sign_error(&why))?;
    if v3_merchant(&auth.mchid).is_none() {
        return Err(Reply::error(400, "MCH_NOT_EXISTS", "商户号不存在", None));
    }
    check_nonce(&auth.nonce_str).map_err(|e| sign_error(&e.to_string()))?;
    if !auth.serial_no.eq_ignore_ascii_case(MERCHANT_SERIAL_NO) {
        return Err(sign_error("serial_no names no certificate of this merchant"));
    }
    let timestamp = auth.timestamp_secs().map_err(|why| sign_error(&why))?;
    if let Some(window) = shared.config.request_window_secs {
        if timestamp.abs_diff(wechat_now(shared)) > window {
            return Err(sign_error("timestamp too far from now"));
        }
    }
    let target = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    // From the header's own text, as WeChat Pay rebuilds it.
    let message =
        auth.signed_message(parts.method.as_str(), target, body).map_err(|why| sign_error(&why))?;
    let signature =
        STANDARD.decode(&auth.signature).map_err(|_| sign_error("signature is not base64"))?;
    // The merchant's key, chosen by the serial the request names: the core's verifier.
    shared
        .merchant_verifier
        .verify(MERCHANT_SERIAL_NO, &message, &signature, wechat_now(shared))
        .map_err(|_| sign_error("signature does not verify"))?;
    Ok(auth)
}

/// WeChat Pay's time, Unix seconds: this machine's, moved by the configured clock offset.
fn wechat_now(shared: &Shared) -> u64 {
    now().saturating_add_signed(shared.config.clock_offset_secs)
}

/// The key that signs an answer to `parts`: as WeChat Pay chooses it for the merchant the
/// request's `Authorization` names (the sandbox's mode for all when it names none), by the
/// merchant's key mode and, for a merchant that has both keys, the request's
/// `Wechatpay-Serial`.
fn signing_key(shared: &Shared, parts: &http::request::Parts) -> AnswerMode {
    let mchid = parts
        .headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|h| Authorization::parse(h).ok())
        .map(|auth| auth.mchid)
        .unwrap_or_default();
    match shared.state.key_mode(&mchid) {
        KeyMode::PublicKey => AnswerMode::PublicKey,
        KeyMode::Certificates => AnswerMode::PlatformCertificate,
        KeyMode::Both => {
            let asked = parts.headers.get(header::SERIAL).and_then(|v| v.to_str().ok());
            let is_platform =
                |s: &str| PLATFORM_CERTIFICATES.iter().any(|(p, _, _)| p.eq_ignore_ascii_case(s));
            match asked {
                Some(s) if s == WECHATPAY_PUBLIC_KEY_ID => AnswerMode::PublicKey,
                Some(s) if is_platform(s) => AnswerMode::PlatformCertificate,
                // No header, or a serial of no key: the certificate, as WeChat Pay does
                // (unless configured otherwise).
                _ => shared.config.answer_mode,
            }
        }
    }
}

/// Signs an answer with the sandbox's WeChat Pay key that the merchant's key mode and the
/// request choose ([`signing_key`]), applying signature-level faults. The platform
/// certificate that signs is the one that signs now, whichever the request named: as
/// WeChat Pay does after a rotation.
pub(crate) fn sign(
    shared: &Shared,
    parts: &http::request::Parts,
    reply: Reply,
    fault: Option<Fault>,
) -> Answer {
    let (serial, signer) = match signing_key(shared, parts) {
        AnswerMode::PublicKey => (WECHATPAY_PUBLIC_KEY_ID, &shared.signer),
        AnswerMode::PlatformCertificate => {
            let (_, signing) = shared.state.platform_certificates();
            (PLATFORM_CERTIFICATES[signing].0, &shared.platform_signers[signing])
        }
    };
    let serial = if fault == Some(Fault::ForgedSerial) { FORGED_SERIAL } else { serial };
    let now = wechat_now(shared);
    let timestamp = if fault == Some(Fault::StaleTimestamp) { now - 600 } else { now };
    let timestamp = timestamp.to_string();
    let nonce = nonce();
    let signature = match fault {
        Some(Fault::SignTestProbe) => {
            format!("WECHATPAY/SIGNTEST/{}", STANDARD.encode(b"probe-probe-probe"))
        }
        _ => {
            let signed_body: &[u8] =
                if fault == Some(Fault::BadSignature) { b"not this body" } else { &reply.body };
            let message = response_message(&timestamp, &nonce, signed_body);
            signer.sign(&message).map(|s| STANDARD.encode(s)).unwrap_or_default()
        }
    };

    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let is_empty = reply.body.is_empty();
    let mut answer = http::Response::new(AnswerBody::full(reply.body));
    *answer.status_mut() = status;
    let h = answer.headers_mut();
    if !is_empty {
        h.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    let request_id = nonce.clone();
    let mut set = |name: &'static str, value: String| {
        if let Ok(v) = HeaderValue::try_from(value) {
            h.insert(name, v);
        }
    };
    set(header::REQUEST_ID, request_id);
    if fault != Some(Fault::MissingSignature) {
        set(header::TIMESTAMP, timestamp);
        set(header::NONCE, nonce);
        set(header::SIGNATURE, signature);
        set(header::SERIAL, serial.to_owned());
        set(header::SIGNATURE_TYPE, wxpay_core::v3::SIGNATURE_TYPE.to_owned());
    }
    answer
}

/// `GET /v3/certificates` (and the global list): the listed platform certificates, each
/// encrypted with the merchants' APIv3 key (AES-256-GCM, associated data `certificate`), in
/// an answer signed like every other; `404 RESOURCE_NOT_EXISTS` to a `public-key` merchant.
pub(crate) fn certificates(
    shared: &Shared,
    parts: &http::request::Parts,
    body: &[u8],
    fault: Option<Fault>,
) -> Answer {
    let reply = match fault {
        Some(Fault::SystemError) => {
            Reply::error(500, "SYSTEM_ERROR", "系统错误 (sandbox fault)", None)
        }
        _ => list_certificates(shared, parts, body),
    };
    sign(shared, parts, reply, fault)
}

fn list_certificates(shared: &Shared, parts: &http::request::Parts, body: &[u8]) -> Reply {
    if parts.method != http::Method::GET {
        return Reply::error(405, "INVALID_REQUEST", "the certificate list takes GET", None);
    }
    if let Err(refusal) = wxpay_core::v3::check_request_headers(&parts.headers, !body.is_empty()) {
        return Reply::error(refusal.status, refusal.code, &refusal.message, None);
    }
    let auth = match check_signature(shared, parts, body) {
        Ok(auth) => auth,
        Err(reply) => return reply,
    };
    // A merchant with only the public key has no certificate to list.
    if !shared.state.key_mode(&auth.mchid).has_certificates() {
        return Reply::error(404, "RESOURCE_NOT_EXISTS", NO_CERTIFICATES, None);
    }
    let global = parts.uri.path() == wxpay_core::v3::DownloadCertificates::global().path();
    shared.state.count_certificate_download(global);
    let (listed, _) = shared.state.platform_certificates();
    let mut data = Vec::with_capacity(listed.len());
    for i in listed {
        let (serial, pem, _) = PLATFORM_CERTIFICATES[i];
        let Ok(certificate) = wxpay_core::v3::PlatformCertificate::from_pem(pem) else {
            return Reply::error(
                500,
                "SYSTEM_ERROR",
                "the sandbox's certificate does not load",
                None,
            );
        };
        let (from, until) = certificate.validity();
        let nonce: String = nonce().chars().take(12).collect();
        let Some(ciphertext) = encrypt(pem.as_bytes(), &nonce, b"certificate") else {
            return Reply::error(500, "SYSTEM_ERROR", "encryption failed", None);
        };
        data.push(json!({
            "serial_no": serial,
            "effective_time": rfc3339(from),
            "expire_time": rfc3339(until),
            "encrypt_certificate": {
                "algorithm": wxpay_core::v3::AEAD_AES_256_GCM,
                "nonce": nonce,
                "associated_data": "certificate",
                "ciphertext": ciphertext,
            },
        }));
    }
    Reply { status: 200, body: json!({ "data": data }).to_string().into_bytes() }
}

/// AES-256-GCM under the APIv3 key: base64 of the ciphertext and its tag.
fn encrypt(plain: &[u8], nonce: &str, associated_data: &[u8]) -> Option<String> {
    use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, API_V3_KEY.as_bytes()).ok()?);
    let nonce = Nonce::try_assume_unique_for_key(nonce.as_bytes()).ok()?;
    let mut data = plain.to_vec();
    key.seal_in_place_append_tag(nonce, Aad::from(associated_data), &mut data).ok()?;
    Some(STANDARD.encode(data))
}
