//! A local WeChat Pay for close order and the order query that proves a close, both API
//! generations: a real HTTP server on loopback that checks signatures and signs its answers
//! with wxpay-core's own code, keeps orders in memory, and misbehaves on request, so every
//! path of a client can be tested for real. It is what wxpay's own tests and demo run against; merchants can use it too.
//!
//! A test of your own code starts one, makes the orders it needs, and gives your client the
//! sandbox's configuration (blocking here; `Sandbox::start` in async code):
//!
//! ```
//! use wxpay_sandbox::wxpay_core::ClientConfig;
//! use wxpay_sandbox::{Merchant, OrderState, SandboxConfig, SandboxThread};
//!
//! let sandbox = SandboxThread::start(SandboxConfig::default())?;
//! sandbox.put_order(Merchant::V3Direct, "order-0001", OrderState::Unpaid);
//! // Its APIv3 direct merchant's settings, `base_url` included, and the close to make:
//! let config: ClientConfig = sandbox.client_config(Merchant::V3Direct).build()?;
//! let close = Merchant::V3Direct.close_order("order-0001");
//! // Your code closes it with a client, e.g. `wxpay_blocking::Client::new(config)?.close(close)?`
//! // (`CloseOutcome::Closed`); then the sandbox says what reached the order:
//! let order = sandbox.state().order(&Merchant::V3Direct.order_key("order-0001")).ok_or("no order")?;
//! assert_eq!((order.state, order.close_calls), (OrderState::Unpaid, 0)); // no close yet
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # What it serves
//!
//! | path | what |
//! | --- | --- |
//! | `POST /pay/closeorder` | APIv2 close (common and institutional mode, MD5 and HMAC-SHA256) |
//! | `POST /v3/pay/transactions/out-trade-no/{no}/close` | APIv3 direct close |
//! | `POST /v3/pay/partner/transactions/out-trade-no/{no}/close` | APIv3 service-provider close |
//! | `POST /v3/combine-transactions/out-trade-no/{no}/close` | APIv3 combined close (all sub-orders or none) |
//! | `POST /v3/global/transactions/out-trade-no/{no}/close` | APIv3 cross-border close by the merchant's order number (`{"mchid"}`, or `{"sp_mchid","sub_mchid"}` for an institution) |
//! | `POST /v3/global/transactions/id/{transaction_id}/close` | APIv3 cross-border close by WeChat Pay's order number, found through [`State::set_transaction_id`] or the control API's `transaction_id` |
//! | `GET /v3/certificates`, `GET /v3/global/certificates` | the platform certificate list, each encrypted with the APIv3 key ([`merchants::API_V3_KEY`]); `404 RESOURCE_NOT_EXISTS` to a `public-key` merchant |
//! | `POST /pay/orderquery` | APIv2 query (common and institutional mode; by `out_trade_no` or `transaction_id`, `transaction_id` winning when both are sent) |
//! | `GET /v3/pay/transactions/out-trade-no/{no}?mchid=` | APIv3 direct query by the merchant's number |
//! | `GET /v3/pay/transactions/id/{transaction_id}?mchid=` | APIv3 direct query by WeChat Pay's number |
//! | `GET /v3/pay/partner/transactions/out-trade-no/{no}?sp_mchid=&sub_mchid=` (and `/id/{transaction_id}`) | APIv3 service-provider query |
//! | `GET /v3/combine-transactions/out-trade-no/{no}` | APIv3 combined query: the signing merchant's combined order (recorded by a combined close, [`State::put_combined`] or the control API) |
//! | `GET /v3/global/transactions/out-trade-no/{no}?mchid=` or `?sp_mchid=&sub_mchid=` (and `/id/{transaction_id}`) | APIv3 cross-border query |
//! | `/__sandbox/…` | the control API (below) |
//!
//! Each endpoint is a [`CallKind`](::wxpay_core::CallKind), re-exported here as `Route`
//! (`v2`, `v3_direct`, …, `v2_query`, `v3_query`, `v3_id_query`, `v3_partner_query`,
//! `v3_partner_id_query`, `v3_combined_query`, `v3_global_query`, `v3_global_id_query`),
//! that faults can be scoped to.
//!
//! # Orders
//!
//! An order ([`Order`]) is in one of the states of [`OrderState`], each a query's
//! `trade_state`: `unpaid` (`NOTPAY`), `paid` (`SUCCESS`), `closed` (`CLOSED`), `refunded`
//! (`REFUND`: paid, a refund started), `revoked` (`REVOKED`), `payerror` (`PAYERROR`) and
//! `paying` (`USERPAYING`: the payer is entering a password) for `paying_secs`
//! ([`DEFAULT_PAYING_SECS`] unless set), then `paid` or `unpaid` as set when it was made
//! (unpaid unless set). The state is read at the time of each request: a paying order turns
//! into its next state once its time is up. Every order that gets paid is given a
//! `transaction_id` (28 digits) if it has none; an order made paid or refunded was paid when
//! it was created. Orders are of [`DEFAULT_TOTAL_FEN`] fen (1 yuan) unless set (`total`), in
//! CNY; orders made revoked, failed or paying are `MICROPAY` (payment-code) orders, the
//! others `NATIVE`.
//!
//! With no configuration it knows the merchants in [`merchants`], each presented under an id
//! of its own (no id serves two roles): for APIv2 a common-mode merchant (`10000100`, app
//! `wx2421b1c4370ec43b`) and a service provider (`1900000109`, app `wx8888888888888888`) with
//! sub-merchant `1900000110`; for APIv3 a direct merchant (`1900000001`), whose combined
//! orders may hold a sub-order of merchant `1900000309`
//! ([`merchants::V3_SUB_ORDER_MCHID`]), and a service provider (`1230000109`, app
//! `wx7777777777777777`) with sub-merchant `1900000209` ([`merchants::V3_SUB_MCHID`]). These
//! are the ids of [`Merchant`], [`Credentials`] and the `WXPAY_*` exports.
//!
//! The shared vectors' APIv3 requests name `1900000109` as the service provider's
//! sub-merchant and as a combined sub-order's merchant ([`merchants::V3_VECTOR_SUB_MCHID`]).
//! That id is the APIv2 service provider's, and WeChat Pay would refuse it in those roles, so
//! the sandbox refuses it there too (as a sub-merchant that is not the service provider's, or a
//! sub-order merchant the merchant does not combine for) unless told to accept it:
//! [`SandboxConfig::accept_vector_ids`], for replaying recorded vector requests as sent (their
//! signatures cover the id: another id would no longer replay). A combined sub-order's
//! `sub_mchid` must be a sub-merchant of that sub-order's `mchid`, as a partner close's
//! `sub_mchid` must be the service provider's. The APIv2 ids and `appid`s are the vectors'
//! own. All use the shared **test** keys.
//!
//! # Answers
//!
//! APIv2 answers are signed with the merchant's API v2 key and the request's `sign_type`.
//! Request-level failures are `return_code=FAIL` with `return_msg` set to the code
//! (`REQUIRE_POST_METHOD`, `XML_FORMAT_ERROR`, `SIGNERROR`, `MCH_NOT_EXISTS`,
//! `APPID_MCHID_NOT_MATCH`, …), unsigned, as the shared vectors show. APIv3 answers, 204
//! and errors alike, carry `Wechatpay-Timestamp/Nonce/Signature/Serial/Signature-Type` and
//! `Request-ID`, signed with the WeChat Pay key that the merchant's key mode and the request's
//! `Wechatpay-Serial` choose (below).
//!
//! Where the public documentation is silent, the sandbox answers as follows (and
//! wxpay-core reads each of these as the matching outcome or error):
//!
//! | case | APIv2 (`err_code`) | APIv3 (status, `code`) |
//! | --- | --- | --- |
//! | closed now | `result_code=SUCCESS` | 204 |
//! | already closed | `ORDERCLOSED` | 400 `ORDER_CLOSED` |
//! | paid | `ORDERPAID` | 400 `ORDERPAID` |
//! | not found | `ORDERNOTEXIST` | 404 `ORDER_NOT_EXIST` |
//! | within 5 minutes of creation | `RULE_LIMIT` | 403 `RULE_LIMIT` |
//! | bad signature | `return_code=FAIL`, `SIGNERROR` | 401 `SIGN_ERROR` |
//! | not POST | `return_code=FAIL`, `REQUIRE_POST_METHOD` | 405 `INVALID_REQUEST` |
//! | bad body | `return_code=FAIL`, `XML_FORMAT_ERROR` | 400 `PARAM_ERROR` with `detail` |
//! | a combined close against `CloseCombinedOrder`'s rules (1 to 50 sub-orders, ids, order numbers) | — | 400 `PARAM_ERROR`, `detail.field` naming it (`sub_orders[1].out_trade_no`) |
//! | a request `nonce_str` wxpay would not send (1 to 32 letters and digits) | (checked with the other fields) | 401 `SIGN_ERROR` |
//! | close of a `refunded` order (the money moved) | `ORDERPAID` | 400 `ORDERPAID` |
//! | close of a `revoked` order (it can no longer be paid) | `ORDERCLOSED` | 400 `ORDER_CLOSED` |
//! | close of a `payerror` order (still payable) | closes it: `result_code=SUCCESS` | 204 |
//! | close of a `paying` order (the order is not touched) | `result_code=FAIL`, `USERPAYING` (signed) | 202 `{"code":"USER_PAYING"}` (signed) |
//! | query: found | `result_code=SUCCESS`, `trade_state`, `out_trade_no`, `trade_state_desc`, `trade_type`; once paid (`SUCCESS`, `REFUND`) `transaction_id`, `total_fee`, `fee_type=CNY`, `time_end` (`yyyyMMddHHmmss`, Beijing time) | 200 `{appid, mchid}` (partner and institution: `{sp_appid, sp_mchid, sub_appid, sub_mchid}`), `out_trade_no`, `trade_type`, `trade_state`, `trade_state_desc`, `amount {total, currency, payer_currency}`; once paid `transaction_id`, `success_time` (RFC 3339, +08:00), `amount.payer_total` |
//! | combined query: found | — | 200 `combine_appid`, `combine_mchid`, `combine_out_trade_no`, `sub_orders [{mchid, sub_mchid?, out_trade_no, trade_type, trade_state, amount {total_amount, currency, payer_currency}; once paid transaction_id, success_time, amount.payer_amount}]` |
//! | query: not found, or another merchant's | `ORDERNOTEXIST` | 404 `ORDER_NOT_EXIST` |
//! | query: `mchid` (`sp_mchid`, `sub_mchid`) missing or given twice | (`appid`/`mch_id` as the close) | 400 `PARAM_ERROR`, `detail.location` `query` |
//! | query: ids that are not the signing merchant's, a sub-merchant not its own | `SUB_MCH_ID_NOT_EXISTS`, `SUB_APPID_NOT_MATCH` (`return_code=FAIL`) | 400 `INVALID_REQUEST` |
//! | query: an order number against the rules | `return_code=FAIL` naming the field | 400 `PARAM_ERROR`, `detail.location` `uri_template` |
//! | query: not `GET`, or with a body | (not `POST`: `REQUIRE_POST_METHOD`) | 405, 400 `INVALID_REQUEST` |
//!
//! A close of a paying order answers as WeChat Pay does while the payer enters a password,
//! and wxpay-core reads it as "not closed": APIv3's signed `202 USER_PAYING` is not a close
//! (a 2xx other than an empty 204), so the result is *unknown* and the way to learn the state
//! is to query; APIv2's signed `USERPAYING` is a refusal (the order is unchanged). A query
//! then answers `USERPAYING` until the payer is done.
//!
//! # Key modes
//!
//! WeChat Pay is moving merchants from platform certificates to the WeChat Pay public key
//! (id `PUB_KEY_ID_…`). Every APIv3 merchant of the sandbox has a [`KeyMode`], the same for
//! all at start ([`SandboxConfig::keys`], `both` unless set) and switchable per merchant while
//! running ([`State::set_key_mode`], or `POST /__sandbox/merchants/{mchid}/keys`): the move
//! itself, from the merchant's next request on. A service provider's mode is its
//! sub-merchants' (it signs their requests).
//!
//! | mode | answers signed with | `GET /v3/certificates` (and the global list) |
//! | --- | --- | --- |
//! | `public-key` (new merchants) | the public key, whatever the request's `Wechatpay-Serial` names | `404 {"code":"RESOURCE_NOT_EXISTS","message":…}`, signed with the public key |
//! | `certificates` (older merchants) | the platform certificate that signs now (rotation included), whatever the request names; the public key is never used | the listed certificates |
//! | `both` (a merchant during the move, as WeChat Pay runs it) | the request's `Wechatpay-Serial` decides: the public key id, the public key; anything else, or no header, the platform certificate that signs now | the listed certificates |
//!
//! So a client in certificate mode that sends no `Wechatpay-Serial` (as wechatpayv3 does)
//! gets certificate-signed answers from a `both` merchant, and a client that trusts only one
//! key gets answers it cannot verify ("serial not found") from a merchant that does not hold
//! it. The request's `Authorization` names the merchant; a request naming no known merchant is
//! answered in the mode given at start. [`SandboxConfig::answer_mode`] only says what a `both`
//! merchant's request naming neither key gets: the certificate unless set (`PublicKey` keeps
//! the sandbox's answer from before key modes). The sandbox signs "with the public key" under
//! the public key id, with the key of its first platform certificate (the test keys share it);
//! `Wechatpay-Serial` is what tells them apart, as clients choose their key by it.
//!
//! The credentials follow the modes: [`Sandbox::credentials`] ([`SandboxCredentials`], taken
//! as the modes and the certificate that signs are then) writes key files and client
//! configurations with the keys of the merchant's mode only. [`SandboxCredentials::write_key_files`]
//! follows the direct merchant's mode (the one `WXPAY_MCHID` names):
//!
//! | mode | WeChat Pay key settings written |
//! | --- | --- |
//! | `public-key` | `WXPAY_PUBLIC_KEY_ID`, `WXPAY_PUBLIC_KEY_FILE` (no certificate) |
//! | `certificates` | `WXPAY_PLATFORM_CERT_FILE`, the certificate that signs (no public key) |
//! | `both` | all three |
//!
//! and in every mode `WXPAY_BASE_URL`, `WXPAY_APPID`, `WXPAY_MCH_ID`, `WXPAY_API_V2_KEY_FILE`,
//! `WXPAY_API_V3_KEY_FILE`, `WXPAY_MCHID`, `WXPAY_SERIAL_NO`, `WXPAY_PRIVATE_KEY_FILE`,
//! `WXPAY_TLS_ROOTS_FILE` (HTTPS only), the `WXPAY_SANDBOX_V2_*`/`WXPAY_SANDBOX_V3_*` ids, and
//! `WXPAY_SANDBOX_V3_KEY_MODE` naming the mode. `GET /__sandbox/credentials` gives each APIv3
//! merchant its `key_mode` and the keys of that mode. [`Credentials`] alone (no running
//! sandbox) writes a `both` merchant's, or a mode's through [`Credentials::write_key_files_for`].
//!
//! Those rules, and the 5-minute rule, are wxpay-core's own ([`wxpay_core::server`],
//! [`wxpay_core::v3::QueryCall`], [`wxpay_core::v3::check_out_trade_no`], …). The signature
//! of an APIv3 query covers the path with its query string and an empty body.
//!
//! # Control API
//!
//! JSON in and out, under `/__sandbox/` (never a WeChat Pay path). `GET /__sandbox/` lists
//! it: every route with the fields it takes (`routes`), every fault by name with its
//! parameters (`faults`), the `endpoints` a fault can be scoped to, the `order_states`, what a
//! paying order can turn into (`paying_then`), the `rotation_steps` and the `key_modes`. The control API refuses, with a 400 `{"error", "accepted"}` that lists
//! what it takes, a field a route does not take (a query parameter of a `GET`, a body field
//! otherwise), a field of the wrong type, a parameter of another fault (`delay_ms` on
//! `system_error`), and an unknown fault, endpoint, order state or rotation step; `null` is
//! the same as leaving a field out. An unknown control path is a 404 that points to the list.
//!
//! - `POST /__sandbox/orders` `{"mchid", "sub_mchid"?, "out_trade_no", "transaction_id"?, "state"?: "unpaid"|"paid"|"closed"|"refunded"|"revoked"|"payerror"|"paying", "created_at"?: unix, "age_secs"?: n, "count"?: n, "total"?: fen, "paying_secs"?: n, "then"?: "paid"|"unpaid"}`
//!   (orders are an hour old unless told otherwise, of 100 fen unless `total` says otherwise;
//!   `count` makes `{out_trade_no}000000`, `…000001`, …; `paying_secs` and `then` are for a
//!   `paying` order only: 5 seconds, then unpaid, unless set);
//! - `GET /__sandbox/orders?mchid=…&out_trade_no=…[&sub_mchid=…]`: the order as of now: state,
//!   `trade_state`, creation time, close calls, closes, `transaction_id`, `total`, `paid_at`,
//!   `paying_until` and `then`, `trade_type`;
//! - `POST /__sandbox/orders/pay` `{"mchid", "sub_mchid"?, "out_trade_no"}`: pays an unpaid,
//!   paying or failed order, which is given a `transaction_id` if it has none (409 for a
//!   closed, revoked or refunded one);
//! - `POST /__sandbox/orders/combined` `{"combine_mchid", "combine_out_trade_no", "combine_appid"?, "sub_orders": [{"mchid", "sub_mchid"?, "out_trade_no"}]}`:
//!   records a combined order of existing orders, for the combined query;
//! - `POST /__sandbox/faults` `{"fault", "endpoint"?, "out_trade_no"?, "times"?: n, "delay_ms"?: n, "status"?: n, "paying_secs"?: n}`,
//!   `endpoint` one of the [`CallKind`](::wxpay_core::CallKind) names above. `out_trade_no` scopes a fault to the order
//!   number the request names: the one in the path (for the by-id routes, the
//!   `transaction_id` in the path), or in an APIv2 body (a query's `out_trade_no`, else its
//!   `transaction_id`). The faults of [`Fault`] by name ([`Fault::NAMES`]; `delay` takes
//!   `delay_ms`, `relabel_status` needs `status`, `user_paying` takes `paying_secs`);
//!   `DELETE /__sandbox/faults` clears them. Besides servers' own failures, they play what
//!   someone in the path can do with genuine answers: `relabel_status` (the signed answer
//!   under another `status`: the signature does not cover the status line), `replay` (the
//!   route's last signed answer again, byte for byte, for another order: closes and queries
//!   alike), `query_other_order` (a correctly signed query answer about another order of the
//!   same merchant: another `out_trade_no`, and another `transaction_id` when the order has
//!   one), `escape_text` (unsigned terminal escapes), and a failing certificate list
//!   (`system_error` or `drop_after_read` on `v3_certificates`). And what the payer does at
//!   the wrong moment: `pay_during_close` (the order is paid, with a `transaction_id`, as the
//!   request arrives: a close answers "paid", a query `SUCCESS`) and `user_paying` (an unpaid
//!   order turns paying for `paying_secs`, 5 unless set, then unpaid; a close answers APIv3
//!   `202 USER_PAYING`, APIv2 `USERPAYING`, whatever the order's state; a query answers what
//!   the order then is, `USERPAYING`); the other faults apply to queries as to closes;
//! - `GET /__sandbox/certificates`: the listed platform certificates' serials and the one
//!   that signs; `POST /__sandbox/certificates/rotate` `{"step": "add"|"switch"|"retire"}`
//!   rotates them as WeChat Pay does (list the next ahead of use, sign with it, stop listing
//!   the old one);
//! - `GET /__sandbox/merchants`: the APIv3 merchants with their `appid`, the `sub_mchids` and
//!   combined `sub_order_mchids` presented, the shared vectors' ids apart
//!   (`accepted_for_vectors`, whose `accepted` says whether this run accepts them:
//!   [`SandboxConfig::accept_vector_ids`]), and their `key_mode`;
//!   `POST /__sandbox/merchants/{mchid}/keys` `{"mode": "public-key"|"certificates"|"both"}`
//!   switches one (see "Key modes"; a sub-merchant has its service provider's mode, and an
//!   id that is no APIv3 merchant of the sandbox is refused, listing those that are);
//! - `GET /__sandbox/credentials` (each APIv3 merchant with the keys of its mode),
//!   `GET /__sandbox/stats`, `GET /__sandbox/health`.
//!
//! The same is available in-process through [`Sandbox::state`].
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod answer;
mod config;
mod control;
mod faults;
pub mod merchants;
mod order;
mod query_v3;
mod server;
mod shared;
mod state;
mod wechat_v2;
mod wechat_v3;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::watch;

/// The core the sandbox is built on, whose types its signatures name
/// ([`ClientConfigBuilder`](wxpay_core::ClientConfigBuilder),
/// [`CloseOrder`](wxpay_core::CloseOrder), the keys, signers and verifiers): a test needs no
/// other dependency to hold them.
#[doc(no_inline)]
pub use wxpay_core;

pub use answer::OVERSIZED_BODY_BYTES;
pub use config::{AnswerMode, KeyMode, SandboxConfig};
pub use control::{CONTROL_PREFIX, DEFAULT_ORDER_AGE_SECS};
pub use merchants::{Credentials, Merchant, SandboxCredentials};
pub use order::{
    DEFAULT_PAYING_SECS, DEFAULT_TOTAL_FEN, NewOrder, Order, OrderKey, OrderState, Paying,
};
pub use state::{CombinedOrder, ESCAPE_TEXT, Fault, FaultRule, RotationStep, State};
/// The sandbox's routes are wxpay's calls, under their stable names
/// ([`CallKind::as_str`](wxpay_core::CallKind::as_str)).
#[doc(no_inline)]
pub use wxpay_core::CallKind as Route;

/// A running sandbox on a tokio runtime.
#[derive(Debug)]
pub struct Sandbox {
    addr: SocketAddr,
    shared: Arc<shared::Shared>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Sandbox {
    /// Binds 127.0.0.1 and starts serving on the current tokio runtime.
    ///
    /// # Errors
    /// When the port cannot be bound, or (never, with the embedded keys) the signing key fails to load.
    pub async fn start(config: SandboxConfig) -> std::io::Result<Sandbox> {
        let listener = server::bind(config.port).await?;
        let addr = listener.local_addr()?;
        let load = |pem: &str| {
            wxpay_core::v3::RsaSigner::from_pem(pem)
                .map_err(|e| std::io::Error::other(e.to_string()))
        };
        let signer = load(merchants::WECHATPAY_KEY_PEM)?;
        let platform_signers = merchants::PLATFORM_CERTIFICATES
            .iter()
            .map(|(_, _, key)| load(key))
            .collect::<std::io::Result<Vec<_>>>()?;
        let merchant_verifier = wxpay_core::v3::PublicKeyVerifier::from_pem(
            merchants::MERCHANT_SERIAL_NO,
            merchants::MERCHANT_PUB_PEM,
        )
        .map_err(|e| std::io::Error::other(e.to_string()))?;
        let tls = if config.tls { Some(server::tls_config()?) } else { None };
        let scheme = if tls.is_some() { "https" } else { "http" };
        let state = State::default();
        state.set_all_key_modes(config.keys);
        let shared = Arc::new(shared::Shared {
            state: Arc::new(state),
            config,
            signer,
            platform_signers,
            merchant_verifier,
            base_url: format!("{scheme}://{addr}"),
            tls,
            replays: faults::Replays::default(),
        });
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(server::serve(listener, shared.clone(), stopped));
        Ok(Sandbox { addr, shared, stop, task })
    }

    /// The address it listens on.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>` (`https://` when serving TLS).
    #[must_use]
    pub fn base_url(&self) -> &str {
        &self.shared.base_url
    }

    /// Its orders, faults and counters.
    #[must_use]
    pub fn state(&self) -> &State {
        &self.shared.state
    }

    /// What a client needs to talk to it, with its APIv3 merchants' key modes and platform
    /// certificates as they are now (the key files and client configurations follow them).
    #[must_use]
    pub fn credentials(&self) -> SandboxCredentials {
        let state = &self.shared.state;
        let (listed, signing) = state.platform_certificates();
        SandboxCredentials::new(self.shared.base_url.clone(), state.key_modes(), listed, signing)
    }

    /// Its configuration.
    #[must_use]
    pub fn config(&self) -> &SandboxConfig {
        &self.shared.config
    }

    /// A client configuration for talking to it as `merchant`, following the merchant's key
    /// mode (see [`SandboxCredentials::client_config`]).
    #[must_use]
    pub fn client_config(&self, merchant: Merchant) -> wxpay_core::ClientConfigBuilder {
        self.credentials().client_config(merchant)
    }

    /// Creates (or replaces) `merchant`'s order `out_trade_no`, old enough to close.
    pub fn put_order(&self, merchant: Merchant, out_trade_no: &str, state: OrderState) {
        self.state().put_order(merchant.order_key(out_trade_no), state);
    }

    /// Stops accepting, lets open connections finish their current exchange, and returns
    /// once the listener is closed.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// Resolves on Ctrl-C (SIGINT), or SIGTERM on Unix. The handlers are installed by this call,
/// not when the future is first polled, so a signal sent right after it is not missed. Call
/// it inside a tokio runtime.
///
/// # Errors
/// When the signal handlers cannot be installed.
pub fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut terminate = signal(SignalKind::terminate())?;
        Ok(async move {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}

/// A sandbox on a runtime of its own, for blocking code and tests: stops when dropped.
#[derive(Debug)]
pub struct SandboxThread {
    sandbox: Option<Sandbox>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl SandboxThread {
    /// Starts a sandbox on a new two-thread runtime.
    ///
    /// # Errors
    /// As [`Sandbox::start`], or when the runtime cannot be built.
    pub fn start(config: SandboxConfig) -> std::io::Result<SandboxThread> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("wxpay-sandbox")
            .enable_all()
            .build()?;
        let sandbox = runtime.block_on(Sandbox::start(config))?;
        Ok(SandboxThread { sandbox: Some(sandbox), runtime: Some(runtime) })
    }

    /// The running sandbox.
    ///
    /// # Panics
    /// Never: the sandbox is there until drop.
    #[must_use]
    pub fn sandbox(&self) -> &Sandbox {
        #[allow(clippy::expect_used)]
        self.sandbox.as_ref().expect("present until drop")
    }
}

impl std::ops::Deref for SandboxThread {
    type Target = Sandbox;

    fn deref(&self) -> &Sandbox {
        self.sandbox()
    }
}

impl Drop for SandboxThread {
    fn drop(&mut self) {
        if let (Some(sandbox), Some(runtime)) = (self.sandbox.take(), self.runtime.take()) {
            runtime.block_on(sandbox.shutdown());
            runtime.shutdown_timeout(std::time::Duration::from_secs(1));
        }
    }
}
