//! Property tests: the APIv2 response parser never panics, whatever the bytes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use wxpay_core::v2::{CloseOrderV2, V2Credentials, V2Fields};
use wxpay_core::{ApiV2Key, Context, Operation};

fn ctx() -> Context {
    let key = ApiV2Key::new("192006250b4c09247ec02edce69f6a2d").unwrap();
    Context::new().with_v2(V2Credentials::new("wx2421b1c4370ec43b", "10000100", key).unwrap())
}

/// XML-ish text: tags, CDATA, entities, and junk, in any order.
fn xmlish() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("<xml>".to_string()),
        Just("</xml>".to_string()),
        Just("<return_code>".to_string()),
        Just("</return_code>".to_string()),
        Just("SUCCESS".to_string()),
        Just("FAIL".to_string()),
        Just("<sign>".to_string()),
        Just("</sign>".to_string()),
        Just("<![CDATA[".to_string()),
        Just("]]>".to_string()),
        Just("&amp;".to_string()),
        Just("&#x".to_string()),
        Just("&#1114112;".to_string()),
        Just("<!DOCTYPE".to_string()),
        Just("<?xml version=\"1.0\"?>".to_string()),
        Just("<a/>".to_string()),
        "[a-z_<>/&;#\\[\\]! ]{0,8}",
    ];
    prop::collection::vec(piece, 0..40).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn parser_never_panics_on_bytes(body in prop::collection::vec(any::<u8>(), 0..512), status in 100u16..600) {
        let _ = V2Fields::parse(&body);
        let resp = http::Response::builder().status(status).body(body).unwrap();
        let _ = CloseOrderV2::new("1").parse(&ctx(), &wxpay_core::ReplayGuard::new(), 0, resp);
    }

    #[test]
    fn parser_never_panics_on_xmlish(body in xmlish()) {
        let _ = V2Fields::parse(body.as_bytes());
        let resp = http::Response::builder().status(200).body(body.into_bytes()).unwrap();
        let result = CloseOrderV2::new("1").parse(&ctx(), &wxpay_core::ReplayGuard::new(), 0, resp);
        // Random text can never carry a valid signature, so it is never an outcome.
        prop_assert!(result.is_err());
    }

    #[test]
    fn written_fields_read_back(values in prop::collection::vec("\\PC{0,20}", 1..6)) {
        let fields: Vec<(String, String)> =
            values.iter().enumerate().map(|(i, v)| (format!("f{i}"), v.clone())).collect();
        let mut xml = String::from("<xml>");
        for (k, v) in &fields {
            xml.push_str(&format!("<{k}>{}</{k}>", quick_escape(v)));
        }
        xml.push_str("</xml>");
        let parsed = V2Fields::parse(xml.as_bytes()).unwrap();
        for (k, v) in &fields {
            prop_assert_eq!(parsed.get(k), Some(v.as_str()));
        }
    }
}

fn quick_escape(v: &str) -> String {
    v.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}
