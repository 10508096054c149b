//! [`CallKind`]: the one list of the calls wxpay makes, with a stable string form that
//! journals, the sandbox's routes and fault scopes, and the tests share.

use std::fmt;
use std::str::FromStr;

/// Every call wxpay makes. [`as_str`](Self::as_str) is stable: it is written in bulk
/// journals and names the sandbox's routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CallKind {
    /// `POST /pay/closeorder`.
    V2Close,
    /// `POST /v3/pay/transactions/out-trade-no/{no}/close`.
    V3Direct,
    /// `POST /v3/pay/partner/transactions/out-trade-no/{no}/close`.
    V3Partner,
    /// `POST /v3/combine-transactions/out-trade-no/{no}/close`.
    V3Combined,
    /// `POST /v3/global/transactions/out-trade-no/{no}/close`.
    V3Global,
    /// `POST /v3/global/transactions/id/{transaction_id}/close`.
    V3GlobalById,
    /// `GET /v3/certificates` (and the global list).
    V3Certificates,
    /// `POST /pay/orderquery`.
    V2Query,
    /// `GET /v3/pay/transactions/out-trade-no/{no}`.
    V3Query,
    /// `GET /v3/pay/transactions/id/{transaction_id}`.
    V3QueryById,
    /// `GET /v3/pay/partner/transactions/out-trade-no/{no}`.
    V3PartnerQuery,
    /// `GET /v3/pay/partner/transactions/id/{transaction_id}`.
    V3PartnerQueryById,
    /// `GET /v3/combine-transactions/out-trade-no/{no}`.
    V3CombinedQuery,
    /// `GET /v3/global/transactions/out-trade-no/{no}`.
    V3GlobalQuery,
    /// `GET /v3/global/transactions/id/{transaction_id}`.
    V3GlobalQueryById,
}

impl CallKind {
    /// Every call.
    pub const ALL: [CallKind; 15] = [
        CallKind::V2Close,
        CallKind::V3Direct,
        CallKind::V3Partner,
        CallKind::V3Combined,
        CallKind::V3Global,
        CallKind::V3GlobalById,
        CallKind::V3Certificates,
        CallKind::V2Query,
        CallKind::V3Query,
        CallKind::V3QueryById,
        CallKind::V3PartnerQuery,
        CallKind::V3PartnerQueryById,
        CallKind::V3CombinedQuery,
        CallKind::V3GlobalQuery,
        CallKind::V3GlobalQueryById,
    ];

    /// The stable name: `v2`, `v3_direct`, `v3_partner`, `v3_combined`, `v3_global`,
    /// `v3_global_id`, `v3_certificates`, `v2_query`, `v3_query`, `v3_id_query`,
    /// `v3_partner_query`, `v3_partner_id_query`, `v3_combined_query`, `v3_global_query`,
    /// `v3_global_id_query`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            CallKind::V2Close => "v2",
            CallKind::V3Direct => "v3_direct",
            CallKind::V3Partner => "v3_partner",
            CallKind::V3Combined => "v3_combined",
            CallKind::V3Global => "v3_global",
            CallKind::V3GlobalById => "v3_global_id",
            CallKind::V3Certificates => "v3_certificates",
            CallKind::V2Query => "v2_query",
            CallKind::V3Query => "v3_query",
            CallKind::V3QueryById => "v3_id_query",
            CallKind::V3PartnerQuery => "v3_partner_query",
            CallKind::V3PartnerQueryById => "v3_partner_id_query",
            CallKind::V3CombinedQuery => "v3_combined_query",
            CallKind::V3GlobalQuery => "v3_global_query",
            CallKind::V3GlobalQueryById => "v3_global_id_query",
        }
    }

    /// Whether it is a query.
    #[must_use]
    pub fn is_query(self) -> bool {
        matches!(
            self,
            CallKind::V2Query
                | CallKind::V3Query
                | CallKind::V3QueryById
                | CallKind::V3PartnerQuery
                | CallKind::V3PartnerQueryById
                | CallKind::V3CombinedQuery
                | CallKind::V3GlobalQuery
                | CallKind::V3GlobalQueryById
        )
    }

    /// Reads what [`as_str`](Self::as_str) writes.
    #[must_use]
    pub fn parse(s: &str) -> Option<CallKind> {
        CallKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for CallKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not a [`CallKind`]'s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown call {0:?}")]
pub struct UnknownCallKind(pub String);

impl FromStr for CallKind {
    type Err = UnknownCallKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CallKind::parse(s).ok_or_else(|| UnknownCallKind(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_reads_back_its_name_and_names_are_distinct() {
        let mut names = std::collections::HashSet::new();
        for kind in CallKind::ALL {
            assert_eq!(kind.as_str().parse::<CallKind>(), Ok(kind));
            assert!(names.insert(kind.as_str()), "{kind} twice");
        }
        assert_eq!("v4".parse::<CallKind>(), Err(UnknownCallKind("v4".into())));
        assert_eq!(CallKind::ALL.iter().filter(|k| k.is_query()).count(), 8);
    }
}
