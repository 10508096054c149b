//! `wxpay query`: one order's state, from a verified query answer that names it.

use wxpay_core::QueryOrder;
use wxpay_core::v2::QueryOrderV2;
use wxpay_core::v3::{QueryCombinedOrder, QueryOrderV3};

use crate::commands::close::{Api, same_generation};
use crate::settings::{self, Settings};
use crate::{Failure, ops, runtime};

pub(crate) const SHORT_HELP: &str = "\
Exit codes: 0 closed or revoked, 1 error after sending (state unknown) or a state not known,
2 usage (nothing sent), 3 paid (SUCCESS, REFUND), 4 not found, 6 not sent or refused,
7 still payable (NOTPAY, USERPAYING, PAYERROR). More: --help";

pub(crate) const AFTER_HELP: &str = "\
Exit codes (what the verified answer's trade_state says):
  0  CLOSED or REVOKED: the order can no longer be paid
  1  the query failed after it was sent (timeout, 5xx, an answer that does not verify, a
     signed answer about another order): the state is unknown, querying again is safe;
     or a trade_state this wxpay does not know
  2  bad usage, settings or input: nothing was sent
  3  SUCCESS or REFUND: the order was paid (the line gives transaction_id and the paid time)
  4  no such order
  6  the query was not sent, or WeChat Pay refused it (the message says why)
  7  NOTPAY, USERPAYING or PAYERROR: not paid and still payable (close it to end it)

A combined order prints one line per sub-order and exits with the worst of them: 3 if any
sub-order was paid, else 1 if any state is not known, else 7 if any is still payable, else 0.

A query answer's signed body names the order, the merchant and the sub-merchant; wxpay
checks that they are the ones asked about, so a genuine signed answer about another order
is never believed (exit 1). Settings are those of `wxpay close` (see `wxpay close --help`);
--sandbox queries an embedded sandbox whose order is created in --sandbox-state first.";

#[derive(clap::Args, Debug, Clone)]
pub(crate) struct QueryArgs {
    /// The order number (`out_trade_no`; for --combined, the `combine_out_trade_no`).
    #[arg(required_unless_present = "transaction_id", conflicts_with = "transaction_id")]
    out_trade_no: Option<String>,
    /// Which API generation.
    #[arg(long, value_enum, default_value = "v3")]
    api: Api,
    /// APIv3 cross-border order (global endpoints, at the Hong Kong host unless --base-url).
    #[arg(long, conflicts_with = "combined")]
    global: bool,
    /// Query by WeChat Pay's order number (`transaction_id`, digits) instead of the
    /// merchant's.
    #[arg(long, value_name = "ID", conflicts_with = "combined")]
    transaction_id: Option<String>,
    /// The sub-merchant: APIv2 institutional mode, an APIv3 service provider's order, or a
    /// cross-border institution's.
    #[arg(long, visible_alias = "sub-mchid", value_name = "ID")]
    sub_mch_id: Option<String>,
    /// APIv2 institutional mode: the sub-merchant's app id.
    #[arg(long, value_name = "APPID", requires = "sub_mch_id")]
    sub_appid: Option<String>,
    /// APIv3: a combined order (one line per sub-order).
    #[arg(long)]
    combined: bool,
    /// Query an embedded sandbox with its test credentials (the order is created first);
    /// settings from the environment or a config file are set aside.
    #[arg(long)]
    sandbox: bool,
    /// With --sandbox: the state the order is in: unpaid, paid, closed, refunded, revoked,
    /// payerror, paying, or missing.
    #[arg(long, default_value = "unpaid", value_name = "STATE")]
    sandbox_state: String,
    /// One JSON object per order (per sub-order) on standard output.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    pub(crate) settings: Settings,
}

impl QueryArgs {
    fn number(&self) -> &str {
        self.out_trade_no.as_deref().or(self.transaction_id.as_deref()).unwrap_or_default()
    }

    /// The query these arguments describe.
    fn query(&self) -> Result<QueryOrder, Failure> {
        let no = self.number();
        let by_id = self.transaction_id.is_some();
        Ok(match (self.api, self.combined) {
            (Api::V2, true) => {
                return Err(Failure::usage("--combined is an APIv3 call: add --api v3"));
            }
            (Api::V2, false) if self.global => {
                return Err(Failure::usage("--global is an APIv3 call: add --api v3"));
            }
            (Api::V2, false) => {
                let mut q = if by_id {
                    QueryOrderV2::by_transaction_id(no)
                } else {
                    QueryOrderV2::by_out_trade_no(no)
                };
                if let Some(sub) = &self.sub_mch_id {
                    q = q.for_sub_merchant(sub);
                }
                if let Some(appid) = &self.sub_appid {
                    q = q.with_sub_appid(appid);
                }
                q.into()
            }
            (Api::V3, true) => QueryCombinedOrder::new(no).into(),
            (Api::V3, false) => {
                if self.sub_appid.is_some() {
                    return Err(Failure::usage(
                        "--sub-appid is an APIv2 setting: an APIv3 query takes --sub-mch-id only",
                    ));
                }
                let mut q = if by_id {
                    QueryOrderV3::by_transaction_id(no)
                } else {
                    QueryOrderV3::by_out_trade_no(no)
                };
                if let Some(sub) = &self.sub_mch_id {
                    q = q.for_sub_merchant(sub);
                }
                if self.global {
                    q = q.global();
                }
                q.into()
            }
        })
    }
}

pub(crate) fn run(mut args: QueryArgs) -> Result<u8, Failure> {
    if args.sandbox && args.settings.origin.flag("base_url") {
        return Err(Failure::usage("--sandbox runs its own WeChat Pay: leave out --base-url"));
    }
    same_generation(args.api, &args.settings.origin)?;
    let query = args.query()?;
    validate(&query)?;
    let _sandbox = if args.sandbox { Some(embed(&mut args)?) } else { None };
    args.settings = std::mem::take(&mut args.settings).resolve()?;
    settings::require(&args.settings, args.api.into())?;
    let purpose = args.api.purpose(args.global);
    let (client, kept) = ops::close::connect(&args.settings, purpose)?;
    let base_url = client.config().endpoint().primary().as_str().to_owned();
    settings::say_destination(client.config());
    let rt = runtime()?;
    let (records, code) = rt.block_on(ops::query::query_one(&client, query, args.combined));
    for record in records {
        let record = if args.json { record.sent_to(&base_url) } else { record };
        say!("{}", record.render(args.json));
    }
    if let Some(kept) = &kept {
        kept.write_back(client.session());
    }
    Ok(code)
}

/// The core's checks of the query's input, before anything is sent.
fn validate(query: &QueryOrder) -> Result<(), Failure> {
    let checked = match query {
        QueryOrder::V2(q) => q.validate(),
        QueryOrder::V3(q) => q.validate(),
        QueryOrder::Combined(q) => q.target().map(|_| ()),
        _ => Ok(()),
    };
    checked.map_err(|e| Failure::usage(ops::close::invalid(&e)))
}

/// `--sandbox`: an embedded sandbox whose test credentials replace the settings, with the
/// order asked about created in `--sandbox-state` (a combined order: two sub-orders).
fn embed(args: &mut QueryArgs) -> Result<ops::sandbox::Embedded, Failure> {
    let state = ops::sandbox::order_state(&args.sandbox_state)?;
    let (sandbox, settings) = ops::sandbox::for_close(
        args.api == Api::V2,
        args.sub_mch_id.as_deref(),
        args.transaction_id.is_some(),
    )?;
    args.settings = settings;
    if let Some(state) = state {
        if args.combined {
            sandbox.put_combined(args.number(), state);
        } else {
            sandbox.put(args.number(), state);
        }
    }
    Ok(sandbox)
}
