//! Builds and prints a signed APIv2 close-order request, with no network at all.
//!
//! `cargo run -p wxpay-core --example v2_close_request`

use wxpay_core::v2::{CloseOrderV2, SignType, V2Credentials};
use wxpay_core::{ApiV2Key, Attempt, BaseUrl, Context, Operation};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The published test key; a real one comes from the merchant platform, never from code.
    let key = ApiV2Key::new("192006250b4c09247ec02edce69f6a2d")?;
    let creds = V2Credentials::new("wx2421b1c4370ec43b", "10000100", key)?
        .with_sign_type(SignType::HmacSha256);
    let ctx = Context::new().with_v2(creds);

    let now = wxpay_core::unix_now();
    let base = BaseUrl::parse(BaseUrl::PRIMARY)?;
    let attempt = Attempt::new(&base, now, "4ca93f17ddf3443ceabf72f26d64fe0e");
    let request = CloseOrderV2::new("1415983244").build(&ctx, &attempt)?;

    println!("{} {}", request.method(), request.uri());
    for (name, value) in request.headers() {
        println!("{name}: {}", value.to_str()?);
    }
    println!();
    println!("{}", std::str::from_utf8(request.body())?);
    Ok(())
}
