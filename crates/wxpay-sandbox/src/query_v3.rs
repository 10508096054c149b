//! The APIv3 order queries (`GET`, the merchant ids in the query string), checked and
//! signed as the closes are, with wxpay-core's own code.

use serde_json::{Value, json};
use wxpay_core::v3::{QueryCall, check_out_trade_no, check_transaction_id, query_pairs};

use crate::answer::{Answer, now, plain, rfc3339};
use crate::merchants::{V3Merchant, v3_merchant};
use crate::order::{NewOrder, OrderKey, OrderState, OrderView};
use crate::shared::Shared;
use crate::state::{ESCAPE_TEXT, Fault};
use crate::wechat_v3::{Reply, check_signature, fault_reply, not_a_sub_merchant, sign};

/// Answers a query `call` for the order number `number` from the path, with the APIv3 form of
/// `fault`.
pub(crate) fn query(
    shared: &Shared,
    call: QueryCall,
    number: &str,
    parts: &http::request::Parts,
    body: &[u8],
    fault: Option<Fault>,
) -> Answer {
    if fault == Some(Fault::EscapeText) {
        return plain(400, ESCAPE_TEXT);
    }
    let reply = match fault_reply(fault) {
        Some(reply) => reply,
        None => process(shared, call, number, parts, body, fault).unwrap_or_else(|r| r),
    };
    sign(shared, parts, reply, fault)
}

/// `400 PARAM_ERROR` for a parameter that breaks a rule.
fn param_error(field: &str, location: &str, value: &str, issue: &str) -> Reply {
    let detail = json!({ "field": field, "location": location, "value": value, "issue": issue });
    Reply::error(400, "PARAM_ERROR", &format!("{field} 格式错误: {issue}"), Some(detail))
}

fn not_found() -> Reply {
    Reply::error(404, "ORDER_NOT_EXIST", "订单不存在", None)
}

/// Checks the request as WeChat Pay does and reads the order.
fn process(
    shared: &Shared,
    call: QueryCall,
    number: &str,
    parts: &http::request::Parts,
    body: &[u8],
    fault: Option<Fault>,
) -> Result<Reply, Reply> {
    if parts.method != http::Method::GET {
        return Err(Reply::error(405, "INVALID_REQUEST", "query order takes GET", None));
    }
    wxpay_core::v3::check_request_headers(&parts.headers, !body.is_empty())
        .map_err(|r| Reply::error(r.status, r.code, &r.message, None))?;
    if !body.is_empty() {
        return Err(Reply::error(400, "INVALID_REQUEST", "query order takes no body", None));
    }
    let auth = check_signature(shared, parts, body)?;
    let merchant = v3_merchant(&auth.mchid)
        .ok_or_else(|| Reply::error(400, "MCH_NOT_EXISTS", "商户号不存在", None))?;

    // The order number in the path: the core's rules.
    let (field, checked) = match call {
        _ if call.by_transaction_id() => ("transaction_id", check_transaction_id(number)),
        QueryCall::Combined => ("combine_out_trade_no", check_out_trade_no(number)),
        _ => ("out_trade_no", check_out_trade_no(number)),
    };
    checked.map_err(|e| param_error(field, "uri_template", number, &e.to_string()))?;

    // The merchant ids in the query string, each at most once.
    let pairs = query_pairs(parts.uri.query().unwrap_or_default());
    for (i, (name, value)) in pairs.iter().enumerate() {
        if pairs[..i].iter().any(|(n, _)| n == name) {
            return Err(param_error(name, "query", value, "given more than once"));
        }
    }
    let param = |name: &str| {
        pairs.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
    };
    let required = |name: &'static str| {
        param(name).ok_or_else(|| {
            let detail = json!({ "field": name, "location": "query", "value": "" });
            let message = format!(
                "输入源“/query/{name}”映射到字段“{name}”必填性规则校验失败，此字段为必填项"
            );
            Reply::error(400, "PARAM_ERROR", &message, Some(detail))
        })
    };
    // Who asks: the merchant itself (`mchid`), or for its sub-merchant (`sp_mchid`).
    let direct = || -> Result<Owner, Reply> {
        let mchid = required("mchid")?;
        if mchid != auth.mchid {
            return Err(Reply::error(400, "INVALID_REQUEST", "mchid 与签名商户号不一致", None));
        }
        Ok(Owner { merchant, sub: None })
    };
    let partner = || -> Result<Owner, Reply> {
        let sp = required("sp_mchid")?;
        let sub = required("sub_mchid")?;
        if sp != auth.mchid {
            return Err(Reply::error(400, "INVALID_REQUEST", "sp_mchid 与签名商户号不一致", None));
        }
        // Its sub-merchants in this run: the shared vectors' only when the sandbox accepts them.
        let subs = merchant.accepted_subs(shared.config.accept_vector_ids);
        let Some(i) = subs.iter().position(|s| *s == sub) else {
            return Err(not_a_sub_merchant(None));
        };
        Ok(Owner { merchant, sub: Some(i) })
    };
    let owner = match call {
        QueryCall::Combined => return combined(shared, merchant, number, fault),
        QueryCall::Direct | QueryCall::DirectById => direct()?,
        QueryCall::Partner | QueryCall::PartnerById => partner()?,
        QueryCall::Global | QueryCall::GlobalById => {
            if param("sp_mchid").is_some() {
                partner()?
            } else {
                direct()?
            }
        }
    };

    let now = now();
    let state = &shared.state;
    let key = if call.by_transaction_id() {
        state.order_by_transaction_id(owner.merchant.mchid, owner.sub_mchid(), number)
    } else {
        Some(owner.key(number))
    };
    if let Some(key) = &key {
        state.fault_on_order(key, fault, now);
    }
    let view = key.and_then(|key| state.order_at(&key, now).map(|order| OrderView { key, order }));
    let view = match (view, fault == Some(Fault::QueryOtherOrder)) {
        (Some(view), false) => view,
        (Some(view), true) => view.other_order(),
        (None, true) => {
            let asked = if call.by_transaction_id() { "" } else { number };
            let order = NewOrder::new(OrderState::Unpaid, now).into_order(now);
            OrderView { key: owner.key(asked), order }.other_order()
        }
        (None, false) => return Err(not_found()),
    };
    let mut v = match owner.sub {
        None => json!({ "appid": owner.merchant.appid, "mchid": owner.merchant.mchid }),
        Some(i) => json!({
            "sp_appid": owner.merchant.appid,
            "sp_mchid": owner.merchant.mchid,
            "sub_appid": owner.merchant.sub_appids.get(i).copied().unwrap_or_default(),
            "sub_mchid": owner.merchant.subs[i],
        }),
    };
    let order = &view.order;
    v["out_trade_no"] = json!(view.key.out_trade_no);
    v["trade_type"] = json!(order.trade_type);
    v["trade_state"] = json!(order.state.trade_state());
    v["trade_state_desc"] = json!(order.state.trade_state_desc());
    let mut amount = json!({ "total": order.total, "currency": "CNY", "payer_currency": "CNY" });
    // WeChat Pay's number whenever the order has one (every paid order does): a query by
    // that number is answered with it, so the answer names the order asked about.
    if let Some(t) = &order.transaction_id {
        v["transaction_id"] = json!(t);
    }
    if order.state.is_paid() {
        v["success_time"] = json!(rfc3339(order.paid_at.unwrap_or(now)));
        amount["payer_total"] = json!(order.total);
    }
    v["amount"] = amount;
    Ok(Reply { status: 200, body: v.to_string().into_bytes() })
}

/// The merchant a query asks as, and the sub-merchant (its index) it asks for.
struct Owner {
    merchant: &'static V3Merchant,
    sub: Option<usize>,
}

impl Owner {
    fn sub_mchid(&self) -> Option<&'static str> {
        self.sub.map(|i| self.merchant.subs[i])
    }

    fn key(&self, out_trade_no: &str) -> OrderKey {
        match self.sub_mchid() {
            Some(sub) => OrderKey::sub(self.merchant.mchid, sub, out_trade_no),
            None => OrderKey::new(self.merchant.mchid, out_trade_no),
        }
    }
}

/// `GET /v3/combine-transactions/out-trade-no/{no}`: the signing merchant's combined order
/// and each sub-order, as WeChat Pay lists them (`amount` with `total_amount`).
fn combined(
    shared: &Shared,
    merchant: &V3Merchant,
    number: &str,
    fault: Option<Fault>,
) -> Result<Reply, Reply> {
    let state = &shared.state;
    let now = now();
    let Some(combined) = state.combined(merchant.mchid, number) else {
        return Err(not_found());
    };
    let mut views = Vec::with_capacity(combined.sub_orders.len());
    for key in combined.sub_orders {
        state.fault_on_order(&key, fault, now);
        let order = state.order_at(&key, now).ok_or_else(not_found)?;
        views.push(OrderView { key, order });
    }
    let other = fault == Some(Fault::QueryOtherOrder);
    let combine_out_trade_no =
        if other { OrderView::other_number(number) } else { number.to_owned() };
    let sub_orders: Vec<Value> = views
        .into_iter()
        .map(|view| {
            let view = if other { view.other_order() } else { view };
            let order = &view.order;
            let mut sub = json!({
                "mchid": view.key.mchid,
                "out_trade_no": view.key.out_trade_no,
                "trade_type": order.trade_type,
                "trade_state": order.state.trade_state(),
            });
            if let Some(s) = &view.key.sub_mchid {
                sub["sub_mchid"] = json!(s);
            }
            let mut amount =
                json!({ "total_amount": order.total, "currency": "CNY", "payer_currency": "CNY" });
            if let Some(t) = &order.transaction_id {
                sub["transaction_id"] = json!(t);
            }
            if order.state.is_paid() {
                sub["success_time"] = json!(rfc3339(order.paid_at.unwrap_or(now)));
                amount["payer_amount"] = json!(order.total);
            }
            sub["amount"] = amount;
            sub
        })
        .collect();
    let v = json!({
        "combine_appid": combined.combine_appid,
        "combine_mchid": merchant.mchid,
        "combine_out_trade_no": combine_out_trade_no,
        "sub_orders": sub_orders,
    });
    Ok(Reply { status: 200, body: v.to_string().into_bytes() })
}
