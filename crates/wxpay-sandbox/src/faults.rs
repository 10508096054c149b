//! The one fault layer: what goes wrong around a WeChat Pay handler, whatever the API
//! generation. For each request the fault is taken once, here; what is generic is applied
//! here, before the handler (a delay, a dropped connection, the route's last answer again)
//! and after it (a dropped connection, a cut or relabelled answer, the genuine answer kept
//! for a replay). The handler gets the fault too, and makes only the answers that depend on
//! the generation (signed errors, signature faults, malformed bodies, escape text).

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use bytes::Bytes;

use crate::answer::{Answer, AnswerBody, DropConnection};
use crate::state::{Fault, Route, State};

/// An answer as it was sent: status, headers and body.
#[derive(Debug, Clone)]
struct Recorded {
    status: http::StatusCode,
    headers: http::HeaderMap,
    body: Option<Bytes>,
}

/// Each route's last genuine answer, for [`Fault::Replay`].
#[derive(Debug, Default)]
pub(crate) struct Replays {
    last: Mutex<HashMap<Route, Recorded>>,
}

impl Replays {
    fn last(&self) -> MutexGuard<'_, HashMap<Route, Recorded>> {
        self.last.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Keeps `answer` as `route`'s last, to be replayed.
    fn remember(&self, route: Route, answer: &Answer) {
        let body = match answer.body() {
            AnswerBody::Full(b) => b.clone(),
            AnswerBody::Truncated(_) => return,
        };
        let recorded =
            Recorded { status: answer.status(), headers: answer.headers().clone(), body };
        self.last().insert(route, recorded);
    }

    /// `route`'s last answer, byte for byte, if it has answered.
    fn replay(&self, route: Route) -> Option<Answer> {
        let recorded = self.last().get(&route).cloned()?;
        let mut answer = http::Response::new(AnswerBody::Full(recorded.body));
        *answer.status_mut() = recorded.status;
        *answer.headers_mut() = recorded.headers;
        Some(answer)
    }
}

/// Whether a new connection is dropped as it is accepted (an unscoped `drop_before_read`).
pub(crate) fn drop_on_accept(state: &State) -> bool {
    state.take_connection_drop()
}

/// Whether a request is dropped after its head is read, before its body (`drop_before_read`
/// scoped to the route, or to the order the path names).
pub(crate) fn drop_before_read(state: &State, route: Route, path_order: Option<&str>) -> bool {
    state.take_fault(route, path_order, |f| f == Fault::DropBeforeRead).is_some()
}

/// Answers a request read in full: takes the fault for `route` and the order `scope` (the
/// order number the request names, if any), applies what is generic before and after, and
/// lets `handler` make the answer with the fault in hand.
pub(crate) async fn around(
    state: &State,
    replays: &Replays,
    route: Route,
    scope: Option<&str>,
    handler: impl FnOnce(Option<Fault>) -> Answer,
) -> Result<Answer, DropConnection> {
    let fault = state.take_fault(route, scope, |f| f != Fault::DropBeforeRead);
    match fault {
        Some(Fault::Delay(d)) => tokio::time::sleep(d).await,
        // Until the route has answered once, the request is answered normally.
        Some(Fault::Replay) => {
            if let Some(answer) = replays.replay(route) {
                return Ok(answer);
            }
        }
        _ => {}
    }
    let mut answer = handler(fault);
    match fault {
        None => replays.remember(route, &answer),
        Some(Fault::DropAfterRead) => return Err(DropConnection),
        Some(Fault::RelabelStatus(status)) => {
            *answer.status_mut() =
                http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::OK);
        }
        Some(Fault::TruncatedBody) => return Ok(truncate(answer)),
        Some(_) => {}
    }
    Ok(answer)
}

/// Cuts an answer's body short: the full `Content-Length` is promised, half is sent. A 204
/// cannot carry a body, so it becomes a 200 promising one.
fn truncate(mut answer: Answer) -> Answer {
    if answer.status() == http::StatusCode::NO_CONTENT {
        *answer.status_mut() = http::StatusCode::OK;
    }
    let full = match std::mem::replace(answer.body_mut(), AnswerBody::Full(None)) {
        AnswerBody::Full(Some(b)) | AnswerBody::Truncated(Some(b)) => b,
        _ => Bytes::from_static(b"{\"code\":\"SYSTEM_ERROR\"}"),
    };
    let half = full.slice(..full.len() / 2);
    answer.headers_mut().insert(http::header::CONTENT_LENGTH, http::HeaderValue::from(full.len()));
    *answer.body_mut() = AnswerBody::Truncated(Some(half));
    answer
}
