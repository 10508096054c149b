//! Querying one order: the state a verified answer that names it gives, and what that means
//! for the exit code. The reading of the answer (and the check that it names this order) is
//! the core's.

use wxpay_core::{Error, ErrorKind, QueryAnswer, QueryOrder, TradeState};

use crate::exit;
use crate::record::QueryRecord;

/// Queries `query` with `client`; the records to print (one per sub-order of a combined
/// order) and the exit code.
pub(crate) async fn query_one(
    client: &wxpay_async::Client,
    query: QueryOrder,
    combined: bool,
) -> (Vec<QueryRecord>, u8) {
    let no = query.order_number().to_owned();
    let by_id = match &query {
        QueryOrder::V2(q) => q.is_by_transaction_id(),
        QueryOrder::V3(q) => q.is_by_transaction_id(),
        _ => false,
    };
    let result = client.query(query).await;
    (QueryRecord::of(&no, by_id, combined, &result), exit_code(&result))
}

/// The exit code of one `trade_state`: 0 can no longer be paid, 3 paid, 7 still payable, 1 a
/// state this build does not know.
pub(crate) fn state_code(state: &TradeState) -> u8 {
    if state.is_closed() {
        exit::CLOSED
    } else if state.is_paid() {
        exit::PAID
    } else if matches!(state, TradeState::NotPay | TradeState::UserPaying | TradeState::PayError) {
        exit::PAYABLE
    } else {
        exit::ERROR
    }
}

/// The exit code of a query: a combined order's is its sub-orders' worst, 3 (paid) before 1
/// (a state not known) before 7 (still payable) before 0.
fn exit_code(result: &Result<QueryAnswer, Error>) -> u8 {
    match result {
        Ok(QueryAnswer::Found(orders)) => {
            let codes: Vec<u8> = orders.iter().map(|o| state_code(&o.trade_state)).collect();
            [exit::PAID, exit::ERROR, exit::PAYABLE]
                .into_iter()
                .find(|c| codes.contains(c))
                .unwrap_or(if codes.is_empty() { exit::ERROR } else { exit::CLOSED })
        }
        Ok(_) => exit::NOT_FOUND,
        Err(e) if matches!(e.kind(), ErrorKind::InvalidInput(_)) => exit::USAGE,
        Err(e) if e.order_effect().is_unchanged() => exit::UNCHANGED,
        Err(_) => exit::ERROR,
    }
}
