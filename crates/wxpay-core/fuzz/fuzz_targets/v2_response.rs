//! Any bytes as an APIv2 close answer: the parser must return, never panic, and the fast
//! path must read every document it takes exactly as the general (quick-xml) parser does.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wxpay_core::v2::{CloseOrderV2, V2Credentials, V2Fields};
use wxpay_core::{ApiV2Key, Context, Operation};

fuzz_target!(|data: &[u8]| {
    let _ = V2Fields::parse(data);
    if let (Some(fast), reference) = V2Fields::parse_both_ways(data) {
        assert_eq!(Ok(fast), reference, "the fast path disagrees with quick-xml");
    }
    let Ok(key) = ApiV2Key::new("192006250b4c09247ec02edce69f6a2d") else { return };
    let Ok(creds) = V2Credentials::new("wx2421b1c4370ec43b", "10000100", key) else { return };
    let ctx = Context::new().with_v2(creds);
    let Ok(resp) = http::Response::builder().status(200).body(data.to_vec()) else { return };
    let _ = CloseOrderV2::new("1415983244").parse(&ctx, &wxpay_core::ReplayGuard::new(), 0, resp);
});
