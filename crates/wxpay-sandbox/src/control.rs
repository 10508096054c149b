//! The control API under `/__sandbox/`: orders, faults and counters, as JSON.

use http::{HeaderValue, Method};
use serde_json::{Value, json};

use wxpay_core::v3::percent_decode;

use crate::answer::{Answer, AnswerBody, now};
use crate::config::KeyMode;
use crate::merchants::{
    API_V2_KEY, API_V3_KEY, MERCHANT_KEY_PEM, MERCHANT_SERIAL_NO, PLATFORM_CERTIFICATES,
    V2_MERCHANTS, V3_MERCHANTS, WECHATPAY_PUB_PEM, WECHATPAY_PUBLIC_KEY_ID,
};
use crate::order::{DEFAULT_PAYING_SECS, NewOrder, OrderKey, OrderState};
use crate::shared::Shared;
use crate::state::{CombinedOrder, Fault, FaultRule, RotationStep, Route};

/// The prefix of the control API: never a WeChat Pay path.
pub const CONTROL_PREFIX: &str = "/__sandbox/";

/// The app of a combined order recorded through the control API without `combine_appid`.
const DEFAULT_COMBINE_APPID: &str = "wxd678efh567hg6787";

/// How old an order made through the control API is unless `created_at` or `age_secs` says
/// otherwise: old enough to close at once.
pub const DEFAULT_ORDER_AGE_SECS: u64 = 3600;

/// What a control request does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Index,
    Health,
    Credentials,
    Stats,
    Certificates,
    Rotate,
    CreateOrders,
    GetOrder,
    PayOrder,
    CreateCombined,
    AddFault,
    ClearFaults,
    Merchants,
    SetKeys,
}

/// A route of the control API: the one list that dispatches, checks fields and is listed by
/// `GET /__sandbox/`.
#[derive(Debug)]
struct ControlRoute {
    method: Method,
    /// Under [`CONTROL_PREFIX`]; a segment `{name}` takes any value, as the field `name`.
    path: &'static str,
    action: Action,
    /// The fields it takes: query parameters for `GET`, JSON body fields otherwise.
    fields: &'static [&'static str],
    what: &'static str,
}

/// The fields that name an order.
const ORDER_FIELDS: &[&str] = &["mchid", "sub_mchid", "out_trade_no"];

const ROUTES: &[ControlRoute] = &[
    ControlRoute {
        method: Method::GET,
        path: "",
        action: Action::Index,
        fields: &[],
        what: "this list: the control routes, the faults and their parameters, the endpoints, order states and rotation steps",
    },
    ControlRoute {
        method: Method::GET,
        path: "health",
        action: Action::Health,
        fields: &[],
        what: "{\"ok\": true} while the sandbox serves",
    },
    ControlRoute {
        method: Method::GET,
        path: "credentials",
        action: Action::Credentials,
        fields: &[],
        what: "the base URL, the test merchants and their test keys",
    },
    ControlRoute {
        method: Method::GET,
        path: "stats",
        action: Action::Stats,
        fields: &[],
        what: "requests answered or dropped, orders held, certificate lists served (and of them the cross-border list)",
    },
    ControlRoute {
        method: Method::POST,
        path: "orders",
        action: Action::CreateOrders,
        fields: &[
            "mchid",
            "sub_mchid",
            "out_trade_no",
            "transaction_id",
            "state",
            "created_at",
            "age_secs",
            "count",
            "total",
            "paying_secs",
            "then",
        ],
        what: "creates (or replaces) an order, an hour old unless `created_at` or `age_secs` says otherwise, of `total` fen (100 unless set); `count` makes {out_trade_no}000000, …000001, …; a `paying` order stays paying `paying_secs` (5 unless set), then is `then` (`paid` or `unpaid`, unpaid unless set)",
    },
    ControlRoute {
        method: Method::GET,
        path: "orders",
        action: Action::GetOrder,
        fields: ORDER_FIELDS,
        what: "an order as of now: state, trade_state, creation time, close calls and closes, transaction_id, total, paid time, how long it stays paying",
    },
    ControlRoute {
        method: Method::POST,
        path: "orders/pay",
        action: Action::PayOrder,
        fields: ORDER_FIELDS,
        what: "pays an unpaid (or paying, or failed) order, as the payer would; it is given a transaction_id if it has none",
    },
    ControlRoute {
        method: Method::POST,
        path: "orders/combined",
        action: Action::CreateCombined,
        fields: &["combine_mchid", "combine_out_trade_no", "combine_appid", "sub_orders"],
        what: "records a combined order of existing orders (`sub_orders`: [{mchid, sub_mchid?, out_trade_no}]), for the combined query; `combine_appid` is wxd678efh567hg6787 unless set",
    },
    ControlRoute {
        method: Method::POST,
        path: "faults",
        action: Action::AddFault,
        fields: &[
            "fault",
            "endpoint",
            "out_trade_no",
            "times",
            "delay_ms",
            "status",
            "paying_secs",
        ],
        what: "scripts a fault, on every endpoint or one, for every order or one, for ever or `times` requests",
    },
    ControlRoute {
        method: Method::DELETE,
        path: "faults",
        action: Action::ClearFaults,
        fields: &[],
        what: "removes every scripted fault",
    },
    ControlRoute {
        method: Method::GET,
        path: "certificates",
        action: Action::Certificates,
        fields: &[],
        what: "the listed platform certificates' serials and the one that signs",
    },
    ControlRoute {
        method: Method::POST,
        path: "certificates/rotate",
        action: Action::Rotate,
        fields: &["step"],
        what: "takes one step of a platform-certificate rotation",
    },
    ControlRoute {
        method: Method::GET,
        path: "merchants",
        action: Action::Merchants,
        fields: &[],
        what: "the APIv3 merchants, each with its key mode (public-key, certificates or both)",
    },
    ControlRoute {
        method: Method::POST,
        path: "merchants/{mchid}/keys",
        action: Action::SetKeys,
        fields: &["mode"],
        what: "switches APIv3 merchant {mchid} to key `mode` (public-key, certificates or both) from its next request on, as a merchant moves to the WeChat Pay public key",
    },
];

/// The values of `pattern`'s `{name}` segments (percent-decoded), when `path` is one of the
/// paths of `pattern` (a route's path).
fn path_match(pattern: &'static str, path: &str) -> Option<Vec<(&'static str, String)>> {
    let (mut want, mut got) = (pattern.split('/'), path.split('/'));
    let mut values = Vec::new();
    loop {
        match (want.next(), got.next()) {
            (None, None) => return Some(values),
            (Some(w), Some(g)) => match w.strip_prefix('{').and_then(|w| w.strip_suffix('}')) {
                Some(name) if !g.is_empty() => values.push((name, percent_decode(g))),
                None if w == g => {}
                _ => return None,
            },
            _ => return None,
        }
    }
}

/// The parameters a fault takes besides the rule's (`endpoint`, `out_trade_no`, `times`), and
/// whether each is required.
fn fault_parameters(name: &str) -> &'static [(&'static str, bool)] {
    match name {
        "delay" => &[("delay_ms", false)],
        "relabel_status" => &[("status", true)],
        "user_paying" => &[("paying_secs", false)],
        _ => &[],
    }
}

fn reply(status: u16, v: Value) -> Answer {
    let mut answer = http::Response::new(AnswerBody::full(v.to_string()));
    *answer.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::OK);
    answer
        .headers_mut()
        .insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    answer
}

/// Why a control request is refused (400): the reason, and what is accepted instead when the
/// request named something unknown.
#[derive(Debug)]
struct Refusal {
    error: String,
    accepted: Vec<&'static str>,
}

impl Refusal {
    fn answer(self) -> Answer {
        let mut v = json!({ "error": self.error });
        if !self.accepted.is_empty() {
            v["accepted"] = json!(self.accepted);
        }
        reply(400, v)
    }
}

fn why(s: &str) -> Refusal {
    Refusal { error: s.to_owned(), accepted: Vec::new() }
}

/// An unknown name for `field`: says which names are accepted.
fn unknown(field: &str, given: &str, accepted: Vec<&'static str>) -> Refusal {
    let error = format!("unknown `{field}` {given:?}; it is one of {}", accepted.join(", "));
    Refusal { error, accepted }
}

/// An optional string field (absent and `null` are `None`).
fn text<'v>(v: &'v Value, field: &str) -> Result<Option<&'v str>, Refusal> {
    match v.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(why(&format!("`{field}` is a string"))),
    }
}

/// An optional whole-number field (absent and `null` are `None`), `what` saying what it is.
fn number(v: &Value, field: &str, what: &str) -> Result<Option<u64>, Refusal> {
    match v.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(n) => n.as_u64().map(Some).ok_or_else(|| why(&format!("`{field}` is {what}"))),
    }
}

fn key_of(v: &Value) -> Result<OrderKey, Refusal> {
    let mchid = text(v, "mchid")?.ok_or_else(|| why("`mchid` is required"))?;
    let out_trade_no = text(v, "out_trade_no")?.ok_or_else(|| why("`out_trade_no` is required"))?;
    Ok(OrderKey {
        mchid: mchid.to_owned(),
        sub_mchid: text(v, "sub_mchid")?.map(str::to_owned),
        out_trade_no: out_trade_no.to_owned(),
    })
}

fn query(parts: &http::request::Parts) -> Value {
    let mut map = serde_json::Map::new();
    for pair in parts.uri.query().unwrap_or_default().split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        map.insert(percent_decode(k), Value::String(percent_decode(v)));
    }
    Value::Object(map)
}

/// The request's fields, every one of them known to `route`: the query of a `GET`, the JSON
/// object of a body otherwise (an empty body is no fields, for routes that take none).
fn fields(
    route: &ControlRoute,
    parts: &http::request::Parts,
    body: &[u8],
) -> Result<Value, Refusal> {
    let from_body = route.method != Method::GET;
    let place = if from_body { "body field" } else { "query parameter" };
    let (v, stray) = if from_body {
        let v = match serde_json::from_slice(body) {
            Ok(v @ Value::Object(_)) => v,
            _ if body.is_empty() && route.fields.is_empty() => json!({}),
            _ => return Err(why("the body must be a JSON object")),
        };
        (v, query(parts))
    } else {
        (query(parts), json!({}))
    };
    // Query parameters on a route that takes a body are unknown too.
    let given = v.as_object().into_iter().chain(stray.as_object()).flat_map(|m| m.keys());
    for name in given {
        if !route.fields.contains(&name.as_str()) || stray.get(name).is_some() {
            let takes = if route.fields.is_empty() {
                "no fields".to_owned()
            } else {
                format!("{}s {}", place, route.fields.join(", "))
            };
            let error = format!(
                "unknown {place} `{name}`: {} {CONTROL_PREFIX}{} takes {takes}",
                route.method, route.path
            );
            return Err(Refusal { error, accepted: route.fields.to_vec() });
        }
    }
    Ok(v)
}

pub(crate) fn handle(shared: &Shared, parts: &http::request::Parts, body: &[u8]) -> Answer {
    let path = parts.uri.path().strip_prefix(CONTROL_PREFIX).unwrap_or_default();
    let found = ROUTES
        .iter()
        .filter(|r| r.method == parts.method)
        .find_map(|r| path_match(r.path, path).map(|values| (r, values)));
    let Some((route, path_values)) = found else {
        let error = format!("no control route {} {CONTROL_PREFIX}{path}", parts.method);
        let hint = format!("GET {CONTROL_PREFIX} lists them");
        return reply(404, json!({ "error": error, "routes": hint }));
    };
    let result = fields(route, parts, body).and_then(|mut v| {
        // The path's own fields (`{mchid}`), which the body cannot give (not among `fields`).
        if let Value::Object(map) = &mut v {
            for (name, value) in path_values {
                map.insert(name.to_owned(), Value::String(value));
            }
        }
        act(shared, route.action, &v)
    });
    result.unwrap_or_else(Refusal::answer)
}

fn act(shared: &Shared, action: Action, v: &Value) -> Result<Answer, Refusal> {
    Ok(match action {
        Action::Index => reply(200, index()),
        Action::Health => reply(200, json!({ "ok": true })),
        Action::Credentials => reply(200, credentials(shared)),
        Action::Stats => reply(
            200,
            json!({
                "requests": shared.state.requests(),
                "orders": shared.state.order_count(),
                "certificate_downloads": shared.state.certificate_downloads(),
                "global_certificate_downloads": shared.state.global_certificate_downloads(),
            }),
        ),
        Action::Certificates => certificates(shared),
        Action::Rotate => {
            let accepted = || RotationStep::ALL.map(RotationStep::as_str).to_vec();
            let name = text(v, "step")?
                .ok_or_else(|| Refusal { accepted: accepted(), ..why("`step` is required") })?;
            let step =
                RotationStep::parse(name).ok_or_else(|| unknown("step", name, accepted()))?;
            shared.state.rotate_certificate(step).map_err(why)?;
            certificates(shared)
        }
        Action::CreateOrders => create_order(shared, v)?,
        Action::GetOrder => {
            let key = key_of(v)?;
            match shared.state.order(&key) {
                Some(o) => reply(
                    200,
                    json!({
                        "state": o.state.as_str(),
                        "trade_state": o.state.trade_state(),
                        "created_at": o.created_at,
                        "close_calls": o.close_calls,
                        "closes": o.closes,
                        "transaction_id": o.transaction_id,
                        "total": o.total,
                        "paid_at": o.paid_at,
                        "paying_until": o.paying.map(|p| p.until),
                        "then": o.paying.map(|p| p.then.as_str()),
                        "trade_type": o.trade_type,
                    }),
                ),
                None => reply(404, json!({ "error": "no such order" })),
            }
        }
        Action::PayOrder => {
            let key = key_of(v)?;
            if shared.state.pay(&key) {
                let transaction_id = shared.state.order(&key).and_then(|o| o.transaction_id);
                reply(200, json!({ "state": "paid", "transaction_id": transaction_id }))
            } else {
                let error =
                    "no such order, or it can no longer be paid (closed, revoked, refunded)";
                reply(409, json!({ "error": error }))
            }
        }
        Action::CreateCombined => create_combined(shared, v)?,
        Action::AddFault => add_fault(shared, v)?,
        Action::ClearFaults => {
            shared.state.clear_faults();
            reply(200, json!({ "ok": true }))
        }
        Action::Merchants => reply(200, json!({ "merchants": merchants(shared) })),
        Action::SetKeys => {
            let accepted = || KeyMode::ALL.map(KeyMode::as_str).to_vec();
            let mchid = text(v, "mchid")?.unwrap_or_default();
            let name = text(v, "mode")?
                .ok_or_else(|| Refusal { accepted: accepted(), ..why("`mode` is required") })?;
            let mode = KeyMode::parse(name).ok_or_else(|| unknown("mode", name, accepted()))?;
            if !shared.state.set_key_mode(mchid, mode) {
                let merchants = V3_MERCHANTS.iter().map(|m| m.mchid).collect();
                return Err(unknown("mchid", mchid, merchants));
            }
            reply(200, json!({ "mchid": mchid, "mode": mode.as_str() }))
        }
    })
}

/// `GET /__sandbox/`: what the control API takes.
fn index() -> Value {
    let routes: Vec<Value> = ROUTES
        .iter()
        .map(|r| {
            json!({
                "method": r.method.as_str(),
                "path": format!("{CONTROL_PREFIX}{}", r.path),
                "fields": r.fields,
                "fields_in": if r.method == Method::GET { "query" } else { "body" },
                "what": r.what,
            })
        })
        .collect();
    let faults: Vec<Value> = Fault::NAMES
        .iter()
        .map(|name| {
            let parameters: Vec<Value> = fault_parameters(name)
                .iter()
                .map(|(p, required)| json!({ "name": p, "required": required }))
                .collect();
            json!({ "name": name, "parameters": parameters })
        })
        .collect();
    json!({
        "routes": routes,
        "faults": faults,
        "fault_scopes": ["endpoint", "out_trade_no", "times"],
        "endpoints": Route::ALL.map(Route::as_str),
        "order_states": OrderState::ALL.map(OrderState::as_str),
        "paying_then": PAYING_THEN.map(OrderState::as_str),
        "rotation_steps": RotationStep::ALL.map(RotationStep::as_str),
        "key_modes": KeyMode::ALL.map(KeyMode::as_str),
    })
}

/// What a paying order can turn into.
const PAYING_THEN: [OrderState; 2] = [OrderState::Paid, OrderState::Unpaid];

fn create_order(shared: &Shared, v: &Value) -> Result<Answer, Refusal> {
    let mut key = key_of(v)?;
    let state = match text(v, "state")? {
        None => OrderState::Unpaid,
        Some(s) => OrderState::parse(s)
            .ok_or_else(|| unknown("state", s, OrderState::ALL.map(OrderState::as_str).to_vec()))?,
    };
    let created_at = match (
        number(v, "created_at", "Unix seconds")?,
        number(v, "age_secs", "a whole number of seconds")?,
    ) {
        (Some(t), _) => t,
        (None, Some(age)) => now().saturating_sub(age),
        (None, None) => now().saturating_sub(DEFAULT_ORDER_AGE_SECS),
    };
    let mut new = NewOrder::new(state, created_at);
    if let Some(total) = number(v, "total", "a whole number of fen")? {
        new = new.total(total);
    }
    // How long a paying order stays paying, and what it is then: for `paying` only.
    let paying_secs = number(v, "paying_secs", "a whole number of seconds")?;
    let then = text(v, "then")?;
    if state != OrderState::Paying && (paying_secs.is_some() || then.is_some()) {
        return Err(why("`paying_secs` and `then` are for a `paying` order only"));
    }
    if state == OrderState::Paying {
        let then = match then {
            None => OrderState::Unpaid,
            Some(t) => OrderState::parse(t)
                .filter(|s| PAYING_THEN.contains(s))
                .ok_or_else(|| unknown("then", t, PAYING_THEN.map(OrderState::as_str).to_vec()))?,
        };
        new = new.paying(paying_secs.unwrap_or(DEFAULT_PAYING_SECS), then);
    }
    // WeChat Pay's own number for it, for closes and queries by `transaction_id`.
    let transaction_id = match v.get("transaction_id") {
        None | Some(Value::Null) => None,
        Some(t) => {
            let t = t.as_str().ok_or_else(|| why("`transaction_id` is a string of digits"))?;
            wxpay_core::v3::check_transaction_id(t).map_err(|e| why(&e.to_string()))?;
            Some(t.to_owned())
        }
    };
    // `count` makes that many orders, numbered `{out_trade_no}{i:06}` (and
    // `{transaction_id}{i:06}`) from 0.
    match number(v, "count", "a whole number, at most 1000000")? {
        None => {
            let mut new = new;
            new.transaction_id = transaction_id;
            shared.state.put(key, new);
        }
        Some(count) if count <= 1_000_000 => {
            let prefix = std::mem::take(&mut key.out_trade_no);
            for i in 0..count {
                key.out_trade_no = format!("{prefix}{i:06}");
                let mut new = new.clone();
                new.transaction_id = transaction_id.as_ref().map(|t| format!("{t}{i:06}"));
                shared.state.put(key.clone(), new);
            }
        }
        Some(_) => return Err(why("`count` is at most 1000000")),
    }
    Ok(reply(201, json!({ "state": state.as_str(), "created_at": created_at })))
}

/// The fields of a combined order's sub-order.
const SUB_ORDER_FIELDS: &[&str] = &["mchid", "sub_mchid", "out_trade_no"];

fn create_combined(shared: &Shared, v: &Value) -> Result<Answer, Refusal> {
    let combine_mchid =
        text(v, "combine_mchid")?.ok_or_else(|| why("`combine_mchid` is required"))?;
    let no = text(v, "combine_out_trade_no")?
        .ok_or_else(|| why("`combine_out_trade_no` is required"))?;
    let combine_appid = text(v, "combine_appid")?.unwrap_or(DEFAULT_COMBINE_APPID);
    let subs = v.get("sub_orders").and_then(Value::as_array).filter(|s| !s.is_empty()).ok_or_else(
        || why("`sub_orders` is a non-empty list of {mchid, sub_mchid?, out_trade_no}"),
    )?;
    let mut sub_orders = Vec::with_capacity(subs.len());
    for sub in subs {
        let fields = sub.as_object().ok_or_else(|| why("each of `sub_orders` is an object"))?;
        if let Some(name) = fields.keys().find(|k| !SUB_ORDER_FIELDS.contains(&k.as_str())) {
            let error = format!("unknown sub-order field `{name}`");
            return Err(Refusal { error, accepted: SUB_ORDER_FIELDS.to_vec() });
        }
        let key = key_of(sub)?;
        if shared.state.order(&key).is_none() {
            return Err(why(&format!(
                "no order {} of {}: create the sub-orders first",
                key.out_trade_no, key.mchid
            )));
        }
        sub_orders.push(key);
    }
    let count = sub_orders.len();
    let combined = CombinedOrder { combine_appid: combine_appid.to_owned(), sub_orders };
    shared.state.put_combined(combine_mchid, no, combined);
    Ok(reply(201, json!({ "combine_out_trade_no": no, "sub_orders": count })))
}

fn add_fault(shared: &Shared, v: &Value) -> Result<Answer, Refusal> {
    let accepted = || Fault::NAMES.to_vec();
    let name = text(v, "fault")?
        .ok_or_else(|| Refusal { accepted: accepted(), ..why("`fault` is required") })?;
    if !Fault::NAMES.contains(&name) {
        return Err(unknown("fault", name, accepted()));
    }
    // A parameter given to a fault that does not take it would be silently ignored: refused.
    let takes = fault_parameters(name);
    for parameter in ["delay_ms", "status", "paying_secs"] {
        let given = !matches!(v.get(parameter), None | Some(Value::Null));
        if given && !takes.iter().any(|(p, _)| *p == parameter) {
            return Err(why(&format!("`{parameter}` is not a parameter of `{name}`")));
        }
        if !given && takes.contains(&(parameter, true)) {
            return Err(why(&format!("`{name}` needs `{parameter}`")));
        }
    }
    let delay_ms = number(v, "delay_ms", "a whole number of milliseconds, 0 or more")?.unwrap_or(0);
    let status = match v.get("status") {
        None | Some(Value::Null) => 0,
        Some(s) => s
            .as_u64()
            .and_then(|s| u16::try_from(s).ok())
            .filter(|s| (100..=599).contains(s))
            .ok_or_else(|| why("`status` is an HTTP status, 100 to 599"))?,
    };
    let fault =
        Fault::parse(name, delay_ms, status).ok_or_else(|| unknown("fault", name, accepted()))?;
    let fault = match number(v, "paying_secs", "a whole number of seconds")? {
        Some(secs) => Fault::UserPayingFor(secs),
        None => fault,
    };
    let endpoint = match text(v, "endpoint")? {
        None => None,
        Some(e) => Some(
            Route::parse(e)
                .ok_or_else(|| unknown("endpoint", e, Route::ALL.map(Route::as_str).to_vec()))?,
        ),
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
    let out_trade_no = text(v, "out_trade_no")?.map(str::to_owned);
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

/// The APIv3 merchants: ids, the sub-merchants and combined sub-order merchants presented
/// (and the shared vectors' apart, with whether this run accepts them), key mode.
fn merchants(shared: &Shared) -> Vec<Value> {
    let accepted = shared.config.accept_vector_ids;
    let modes = shared.state.key_modes();
    V3_MERCHANTS
        .iter()
        .zip(modes)
        .map(|(m, (_, mode))| {
            json!({
                "mchid": m.mchid,
                "appid": m.appid,
                "sub_mchids": m.presented_subs(),
                "sub_order_mchids": m.presented_combined_with(),
                "accepted_for_vectors": {
                    "accepted": accepted,
                    "sub_mchids": m.vector_subs(),
                    "sub_order_mchids": m.vector_combined_with(),
                },
                "key_mode": mode.as_str(),
            })
        })
        .collect()
}

/// The test credentials (test keys only: this is a sandbox). Each APIv3 merchant has the
/// WeChat Pay keys of its key mode: the public key (`wechatpay_public_key_id`,
/// `wechatpay_public_key_pem`), the platform certificate that signs now
/// (`wechatpay_cert_serial`, `wechatpay_cert_pem`), or both.
fn credentials(shared: &Shared) -> Value {
    let (_, signing) = shared.state.platform_certificates();
    let (cert_serial, cert_pem, _) = PLATFORM_CERTIFICATES[signing];
    let v3_merchants: Vec<Value> = merchants(shared)
        .into_iter()
        .map(|mut m| {
            let mode = m["key_mode"].as_str().and_then(KeyMode::parse).unwrap_or_default();
            if mode.has_public_key() {
                m["wechatpay_public_key_id"] = json!(WECHATPAY_PUBLIC_KEY_ID);
                m["wechatpay_public_key_pem"] = json!(WECHATPAY_PUB_PEM);
            }
            if mode.has_certificates() {
                m["wechatpay_cert_serial"] = json!(cert_serial);
                m["wechatpay_cert_pem"] = json!(cert_pem);
            }
            m
        })
        .collect();
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
            "merchants": v3_merchants,
            "serial_no": MERCHANT_SERIAL_NO,
            "private_key_pem": MERCHANT_KEY_PEM,
            "api_v3_key": API_V3_KEY,
        },
    })
}
