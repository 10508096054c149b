//! What the command says about each close, typed: one record for `--json`, the bulk result
//! lines and the journal, the bulk run's summary, and their human wording. Every text from the
//! network is escaped as the core shows it before it is put in a record.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use wxpay_core::{
    CloseOutcome, ConfirmPolicy, Confirmed, Error, ErrorKind, OrderState, QueryAnswer, TradeState,
    unix_now,
};

/// A close's outcome as records name it (`CloseOutcome::as_str`); one this build does not
/// know (a newer journal's) reads as `Unknown`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Outcome {
    Closed,
    AlreadyClosed,
    NotFound,
    Paid,
    #[serde(other)]
    Unknown,
}

impl From<CloseOutcome> for Outcome {
    fn from(o: CloseOutcome) -> Self {
        match o {
            CloseOutcome::Closed => Outcome::Closed,
            CloseOutcome::AlreadyClosed => Outcome::AlreadyClosed,
            CloseOutcome::NotFound => Outcome::NotFound,
            CloseOutcome::Paid => Outcome::Paid,
        }
    }
}

impl Outcome {
    /// The core's outcome, when this build knows it.
    pub(crate) fn known(self) -> Option<CloseOutcome> {
        Some(match self {
            Outcome::Closed => CloseOutcome::Closed,
            Outcome::AlreadyClosed => CloseOutcome::AlreadyClosed,
            Outcome::NotFound => CloseOutcome::NotFound,
            Outcome::Paid => CloseOutcome::Paid,
            Outcome::Unknown => return None,
        })
    }
}

/// The input line a record names: a line number, or (read from a damaged journal) whatever
/// JSON stood there, kept to say what was wrong.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub(crate) enum RecordedLine {
    Line(u64),
    Other(serde_json::Value),
}

/// One close's result: a `--json` line, a bulk result line, a journal record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct CloseRecord {
    pub(crate) out_trade_no: String,
    /// When the result was known (Unix seconds).
    #[serde(default)]
    pub(crate) at: u64,
    /// Bulk: the input line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) line: Option<RecordedLine>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) outcome: Option<Outcome>,
    /// The error and its causes, escaped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) error: Option<String>,
    /// What the error means for the order (`not_sent`, `refused`, `unknown`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) effect: Option<String>,
    /// The error's kind, as the core names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) attempts: Option<u32>,
    /// WeChat Pay's error code, escaped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) code: Option<String>,
    /// The answer's Request-ID, escaped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) request_id: Option<String>,
    /// `--confirm doubt|always`: what proved the outcome, `close` (the close's own verified
    /// answer) or `query` (a verified query answer that names the order).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) proof: Option<String>,
    /// The `trade_state` the proving query answer named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) trade_state: Option<String>,
    /// WeChat Pay's order number, when a query proved the order paid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) transaction_id: Option<String>,
    /// When it was paid, as WeChat Pay writes it, when a query proved the order paid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) paid_at: Option<String>,
    /// Closes and queries sent by a confirmed close.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) closes: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) queries: Option<u32>,
    /// Nothing proven by the deadline: the last `trade_state` a verified query named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) last_state: Option<String>,
    /// `--json`: where the close went (not journaled: the header names it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) base_url: Option<String>,
}

impl CloseRecord {
    /// The record of `result`, for order `no` (from input `line`, in bulk).
    #[cfg(test)]
    pub(crate) fn new(no: &str, line: Option<u64>, result: &Result<CloseOutcome, Error>) -> Self {
        CloseRecord::of(no, line, result.as_ref().copied())
    }

    /// The record of a plain close's result.
    fn of(no: &str, line: Option<u64>, result: Result<CloseOutcome, &Error>) -> Self {
        let network = crate::escape::network;
        let mut record = CloseRecord {
            out_trade_no: no.to_owned(),
            at: unix_now(),
            line: line.map(RecordedLine::Line),
            outcome: None,
            error: None,
            effect: None,
            kind: None,
            attempts: None,
            code: None,
            request_id: None,
            proof: None,
            trade_state: None,
            transaction_id: None,
            paid_at: None,
            closes: None,
            queries: None,
            last_state: None,
            base_url: None,
        };
        match result {
            Ok(outcome) => record.outcome = Some(outcome.into()),
            Err(e) => {
                record.error = Some(network(&crate::report::report(e)));
                record.effect = Some(e.order_effect().as_str().to_owned());
                record.kind = Some(e.kind().name().to_owned());
                record.attempts = Some(e.attempts());
                record.code = e.api().map(|api| network(api.code.as_str()));
                record.request_id = e.request_id().map(network);
            }
        }
        record
    }

    /// The record of a confirmed close's `result`, for order `no` (from input `line`, in
    /// bulk): under `--confirm never`, exactly the plain close's record; else with what
    /// proved the outcome (and, for a paid order a query proved, its number and paid time).
    pub(crate) fn confirmed(
        no: &str,
        line: Option<u64>,
        result: &Result<Confirmed, Error>,
        policy: ConfirmPolicy,
    ) -> Self {
        let network = crate::escape::network;
        let mut record = CloseRecord::of(no, line, result.as_ref().map(|c| c.outcome));
        if policy == ConfirmPolicy::Never {
            return record;
        }
        match result {
            Ok(c) => {
                record.proof = Some(c.proof.as_str().to_owned());
                record.closes = Some(c.closes);
                record.queries = Some(c.queries);
                if let Some(order) = &c.order {
                    record.trade_state = Some(network(order.trade_state.as_str()));
                    if c.outcome == CloseOutcome::Paid {
                        record.transaction_id = order.transaction_id.as_deref().map(network);
                        record.paid_at = order.paid_at.as_deref().map(network);
                    }
                }
            }
            Err(e) => {
                if let ErrorKind::Unproven { last_state: Some(state), .. } = e.kind() {
                    record.last_state = Some(network(state.as_str()));
                }
            }
        }
        record
    }

    /// The same record naming where the close went (`--json`).
    pub(crate) fn sent_to(mut self, base_url: &str) -> Self {
        self.base_url = Some(base_url.to_owned());
        self
    }

    /// Whether it is an error's record.
    pub(crate) fn is_error(&self) -> bool {
        self.outcome.is_none()
    }

    /// The human line.
    pub(crate) fn human(&self) -> String {
        let mut text = self.said();
        match (self.proof.as_deref(), &self.trade_state) {
            (Some("query"), Some(state)) => {
                text.push_str(&format!("; proven by a query answer naming the order ({state})"));
            }
            (Some("unnamed"), _) => text.push_str(
                "; as WeChat Pay answered (a \"no such order\", to a close or a query, names no order: not proof against a replay; query it again later before issuing it anew)",
            ),
            (Some(_), _) => text.push_str("; taken from the close's verified answer"),
            (None, _) => {}
        }
        if let Some(id) = &self.transaction_id {
            text.push_str(&format!(", transaction_id {id}"));
        }
        if let Some(at) = &self.paid_at {
            text.push_str(&format!(", paid at {at}"));
        }
        text
    }

    /// The human line's outcome or error.
    fn said(&self) -> String {
        let no = &self.out_trade_no;
        match self.outcome {
            Some(Outcome::Closed) => format!("{no}: closed, the order can no longer be paid"),
            Some(Outcome::AlreadyClosed) => format!("{no}: already closed, nothing more to do"),
            Some(Outcome::NotFound) => format!("{no}: no such order, nothing to close"),
            // `--confirm never`: "paid" only as a close was answered, which a replay can claim.
            Some(Outcome::Paid) if self.proof.is_none() => format!(
                "{no}: PAID, says WeChat Pay's answer to the close, which names no order: query it before delivering or refunding"
            ),
            Some(Outcome::Paid) => format!("{no}: PAID, it cannot be closed: deliver or refund"),
            Some(Outcome::Unknown) | None => {
                let hint = match self.effect.as_deref() {
                    Some("unknown") => "; closing again is safe and tells the state",
                    _ => "",
                };
                format!("{no}: {}{hint}", self.error.as_deref().unwrap_or_default())
            }
        }
    }

    /// As printed: its JSON with `--json`, else the human line. Either way, no hidden
    /// character reaches the terminal raw.
    pub(crate) fn render(&self, json: bool) -> String {
        if json {
            crate::escape::json(self)
        } else {
            crate::escape::line(&self.human()).into_owned()
        }
    }
}

/// What a query found about one order (each sub-order of a combined order): a `wxpay query`
/// line or `--json` record. Every text from the answer is escaped as the core shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct QueryRecord {
    /// The merchant's order number: the answer's, or the one asked about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) out_trade_no: Option<String>,
    /// A combined order's number, on each of its sub-orders' records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) combine_out_trade_no: Option<String>,
    /// Whether WeChat Pay knows the order (absent for an error).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) found: Option<bool>,
    /// The `trade_state` the verified answer names (`SUCCESS`, `CLOSED`, `NOTPAY`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) trade_state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) trade_state_desc: Option<String>,
    /// WeChat Pay's order number: the answer's, or the one asked about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) transaction_id: Option<String>,
    /// When it was paid, as WeChat Pay writes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) paid_at: Option<String>,
    /// When it was paid, Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) paid_at_unix: Option<u64>,
    /// The amount in the currency's smallest unit (fen).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) total: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) currency: Option<String>,
    /// The error and its causes, escaped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) error: Option<String>,
    /// What the error means (`not_sent`, `refused`, `unknown`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) effect: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) attempts: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) request_id: Option<String>,
    /// `--json`: where the query went.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) base_url: Option<String>,
}

impl QueryRecord {
    /// A record naming the order asked about (`by_id`: by WeChat Pay's number) and nothing else.
    fn asked(no: &str, by_id: bool) -> Self {
        let no = Some(crate::escape::network(no));
        let (out_trade_no, transaction_id) = if by_id { (None, no) } else { (no, None) };
        QueryRecord {
            out_trade_no,
            combine_out_trade_no: None,
            found: None,
            trade_state: None,
            trade_state_desc: None,
            transaction_id,
            paid_at: None,
            paid_at_unix: None,
            total: None,
            currency: None,
            error: None,
            effect: None,
            kind: None,
            attempts: None,
            code: None,
            request_id: None,
            base_url: None,
        }
    }

    /// The records of a query's `result`: one per order found (each sub-order of a combined
    /// order `combined`), or one saying it was not found, or the error.
    pub(crate) fn of(
        no: &str,
        by_id: bool,
        combined: bool,
        result: &Result<QueryAnswer, Error>,
    ) -> Vec<QueryRecord> {
        let network = crate::escape::network;
        let combine = combined.then(|| network(no));
        match result {
            Ok(QueryAnswer::Found(orders)) if !orders.is_empty() => orders
                .iter()
                .map(|o| QueryRecord {
                    combine_out_trade_no: combine.clone(),
                    ..QueryRecord::from_order(o)
                })
                .collect(),
            Ok(_) => {
                let mut r = QueryRecord::asked(no, by_id);
                r.found = Some(false);
                if combined {
                    r.out_trade_no = None;
                    r.combine_out_trade_no = combine;
                }
                vec![r]
            }
            Err(e) => {
                let mut r = QueryRecord::asked(no, by_id);
                if combined {
                    r.out_trade_no = None;
                    r.combine_out_trade_no = combine;
                }
                r.error = Some(network(&crate::report::report(e)));
                r.effect = Some(e.order_effect().as_str().to_owned());
                r.kind = Some(e.kind().name().to_owned());
                r.attempts = Some(e.attempts());
                r.code = e.api().map(|api| network(api.code.as_str()));
                r.request_id = e.request_id().map(network);
                vec![r]
            }
        }
    }

    /// The record of one order a verified answer describes.
    fn from_order(o: &OrderState) -> Self {
        let network = crate::escape::network;
        let mut r = QueryRecord::asked(&o.out_trade_no, false);
        r.found = Some(true);
        r.trade_state = Some(network(o.trade_state.as_str()));
        r.trade_state_desc = (!o.trade_state_desc.is_empty()).then(|| network(&o.trade_state_desc));
        r.transaction_id = o.transaction_id.as_deref().map(network);
        r.paid_at = o.paid_at.as_deref().map(network);
        r.paid_at_unix = o.paid_at_unix();
        r.total = o.total;
        r.currency = o.currency.as_deref().map(network);
        r
    }

    /// The same record naming where the query went (`--json`).
    pub(crate) fn sent_to(mut self, base_url: &str) -> Self {
        self.base_url = Some(base_url.to_owned());
        self
    }

    /// The human line: `NO: CLOSED …`, `NO: SUCCESS, paid at …, transaction_id …`,
    /// `NO: not found`.
    pub(crate) fn human(&self) -> String {
        let no = match (&self.out_trade_no, &self.combine_out_trade_no, &self.transaction_id) {
            (Some(no), _, _) | (None, Some(no), _) | (None, None, Some(no)) => no.as_str(),
            (None, None, None) => "",
        };
        if let Some(error) = &self.error {
            let hint = match self.effect.as_deref() {
                Some("unknown") => "; the order's state is unknown, querying again is safe",
                _ => "",
            };
            return format!("{no}: {error}{hint}");
        }
        let Some(state) = &self.trade_state else {
            return format!(
                "{no}: not found (WeChat Pay's answer names no order: not proof against a replay)"
            );
        };
        let desc = self.trade_state_desc.as_deref().map(|d| format!(" ({d})")).unwrap_or_default();
        let mut text = format!("{no}: {state}{desc}");
        let paid = |text: &mut String| {
            if let Some(at) = &self.paid_at {
                text.push_str(&format!(", paid at {at}"));
            }
            if let Some(id) = &self.transaction_id {
                text.push_str(&format!(", transaction_id {id}"));
            }
            if let Some(total) = self.total {
                let currency = self.currency.as_deref().unwrap_or("");
                text.push_str(format!(", total {total} {currency}").trim_end());
            }
        };
        match TradeState::from_wire(state) {
            TradeState::Success => {
                paid(&mut text);
                text.push_str(": paid, deliver or refund");
            }
            TradeState::Refund => {
                paid(&mut text);
                text.push_str(": paid, and a refund has started");
            }
            TradeState::Closed | TradeState::Revoked => {
                text.push_str(": the order can no longer be paid");
            }
            TradeState::NotPay => text.push_str(": not paid, still payable (close it to end it)"),
            TradeState::UserPaying => {
                text.push_str(": the payer is paying now; ask again in a few seconds");
            }
            TradeState::PayError => {
                text.push_str(": the payment failed, still payable (close it to end it)");
            }
            _ => text.push_str(": a state this wxpay does not know"),
        }
        text
    }

    /// As printed: its JSON with `--json`, else the human line.
    pub(crate) fn render(&self, json: bool) -> String {
        if json {
            crate::escape::json(self)
        } else {
            crate::escape::line(&self.human()).into_owned()
        }
    }
}

/// Results counted by kind: an outcome's name (`closed`, `paid`, …) or `error`.
pub(crate) type Tally = BTreeMap<&'static str, u64>;

/// The last line of a bulk run's `--json` output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Summary {
    /// This run's results by kind.
    pub(crate) summary: BTreeMap<String, u64>,
    /// The whole run's, with what an earlier run journaled.
    pub(crate) whole_run: BTreeMap<String, u64>,
    pub(crate) invalid_lines: u64,
    pub(crate) duplicates: u64,
    /// Lines skipped because the journal already had their outcome.
    pub(crate) skipped: u64,
    pub(crate) journal: String,
    pub(crate) base_url: String,
    /// Whether every line was processed.
    pub(crate) complete: bool,
}

/// A tally with owned keys, for a [`Summary`].
pub(crate) fn owned(tally: &Tally) -> BTreeMap<String, u64> {
    tally.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_read_back_as_written_and_unknown_outcomes_are_kept_apart() {
        let record = CloseRecord::new("order-1", Some(7), &Ok(CloseOutcome::AlreadyClosed));
        let text = crate::escape::json(&record);
        assert!(text.contains("\"outcome\":\"already_closed\""), "{text}");
        assert!(!text.contains("base_url") && !text.contains("error"), "{text}");
        let back: CloseRecord = serde_json::from_str(&text).unwrap();
        assert_eq!(back, record);
        let newer: CloseRecord =
            serde_json::from_str(r#"{"out_trade_no":"x","at":1,"outcome":"refunded"}"#).unwrap();
        assert_eq!(newer.outcome, Some(Outcome::Unknown));
        let bad: CloseRecord =
            serde_json::from_str(r#"{"out_trade_no":"x","line":"7","outcome":"closed"}"#).unwrap();
        assert_eq!(bad.line, Some(RecordedLine::Other(serde_json::json!("7"))));
    }
}
