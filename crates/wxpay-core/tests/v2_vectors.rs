//! Every APIv2 vector of `tests/vectors/close_order.json`, byte for byte, and every outcome
//! and error kind from real XML bodies.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use wxpay_core::v2::{self, CloseOrderV2, SignType, V2Credentials, V2Fields, V2Signer};
use wxpay_core::{
    ApiCode, ApiV2Key, Attempt, BaseUrl, CloseOutcome, Context, Error, ErrorKind, InvalidInput,
    Operation, VerifyError,
};

fn vectors() -> Value {
    let text = include_str!("vectors/close_order.json");
    serde_json::from_str(text).unwrap()
}

fn params(v: &Value) -> Vec<(String, String)> {
    v.as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect()
}

fn key(v: &Value) -> ApiV2Key {
    ApiV2Key::new(v["api_key"].as_str().unwrap()).unwrap()
}

fn sign_type_of(p: &[(String, String)]) -> SignType {
    p.iter()
        .find(|(k, _)| k == "sign_type")
        .map_or(SignType::Md5, |(_, v)| SignType::from_wire(v).unwrap())
}

#[test]
fn official_doc_example_md5_and_hmac() {
    let all = vectors();
    let v = &all["v2"]["official_doc_example"];
    let p = params(&v["params"]);
    let fields = p.iter().map(|(k, v)| (k.as_str(), v.as_str()));
    let payload = v2::payload(fields.clone());
    let expected = v["string_to_sign"].as_str().unwrap();
    assert_eq!(format!("{payload}&key={}", v["api_key"].as_str().unwrap()), expected);
    let k = key(v);
    assert_eq!(v2::sign_fields(&k, SignType::Md5, fields.clone()).unwrap().as_str(), v["md5"]);
    assert_eq!(
        v2::sign_fields(&k, SignType::HmacSha256, fields).unwrap().as_str(),
        v["hmac_sha256"]
    );
    assert_eq!(v["md5"], "9A0A8659F005D6984697E2CA0A9CF3B7");
}

#[test]
fn request_vectors_string_to_sign_and_sign() {
    let all = vectors();
    for v in all["v2"]["requests"].as_array().unwrap() {
        let name = v["name"].as_str().unwrap();
        let p = params(&v["params"]);
        let fields = p.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        let payload = v2::payload(fields.clone());
        assert_eq!(
            format!("{payload}&key={}", v["api_key"].as_str().unwrap()),
            v["string_to_sign"].as_str().unwrap(),
            "{name}"
        );
        let sign = v2::sign_fields(&key(v), sign_type_of(&p), fields).unwrap();
        assert_eq!(sign.as_str(), v["sign"].as_str().unwrap(), "{name}");
    }
}

/// The full request the close operation builds reproduces each vector's fields and sign.
#[test]
fn close_operation_builds_each_request_vector() {
    let all = vectors();
    for v in all["v2"]["requests"].as_array().unwrap() {
        let name = v["name"].as_str().unwrap();
        let p = params(&v["params"]);
        let get = |f: &str| p.iter().find(|(k, _)| k == f).map(|(_, v)| v.clone());
        let sign_type = sign_type_of(&p);
        let creds = V2Credentials::new(get("appid").unwrap(), get("mch_id").unwrap(), key(v))
            .unwrap()
            .with_sign_type(sign_type)
            .send_md5_sign_type(get("sign_type").is_some());
        let ctx = Context::new().with_v2(creds);
        let mut close = CloseOrderV2::new(get("out_trade_no").unwrap());
        if let Some(sub) = get("sub_mch_id") {
            close = close.for_sub_merchant(sub);
            if let Some(app) = get("sub_appid").filter(|s| !s.is_empty()) {
                close = close.with_sub_appid(app);
            }
        }
        let base = BaseUrl::parse(BaseUrl::PRIMARY).unwrap();
        let nonce = get("nonce_str").unwrap();
        let attempt = Attempt::new(&base, 1_700_000_000, &nonce);
        let req = close.build(&ctx, &attempt).unwrap();
        assert_eq!(req.method(), "POST");
        assert_eq!(req.uri(), "https://api.mch.weixin.qq.com/pay/closeorder");
        assert_eq!(req.headers()["content-type"], "text/xml; charset=utf-8");
        assert!(req.headers()["user-agent"].to_str().unwrap().starts_with("wxpay/"));

        // The exact body: sorted non-empty fields, then the sign.
        let mut expected = String::from("<xml>");
        let mut sorted: Vec<_> = p.iter().filter(|(_, v)| !v.is_empty()).collect();
        sorted.sort();
        for (k, val) in sorted {
            expected.push_str(&format!("<{k}>{val}</{k}>"));
        }
        expected.push_str(&format!("<sign>{}</sign></xml>", v["sign"].as_str().unwrap()));
        assert_eq!(std::str::from_utf8(req.body()).unwrap(), expected, "{name}");
    }
}

fn ctx_for(sign_type: SignType) -> Context {
    let key = ApiV2Key::new("192006250b4c09247ec02edce69f6a2d").unwrap();
    Context::new().with_v2(
        V2Credentials::new("wx2421b1c4370ec43b", "10000100", key)
            .unwrap()
            .with_sign_type(sign_type),
    )
}

fn answer(body: &str) -> wxpay_core::Response {
    http::Response::builder().status(200).body(body.as_bytes().to_vec()).unwrap()
}

#[test]
fn response_vectors_verdicts() {
    let all = vectors();
    for v in all["v2"]["responses"].as_array().unwrap() {
        let name = v["name"].as_str().unwrap();
        let sign_type =
            v["sign_type"].as_str().map_or(SignType::Md5, |s| SignType::from_wire(s).unwrap());
        let ctx = ctx_for(sign_type);
        let xml = v["xml"].as_str().unwrap();
        if let Some(sts) = v["string_to_sign"].as_str() {
            let fields = V2Fields::parse(xml.as_bytes()).unwrap();
            let payload = v2::payload(fields.iter());
            assert_eq!(format!("{payload}&key={}", v["api_key"].as_str().unwrap()), sts, "{name}");
            let sign = key(v).sign(sign_type, payload.as_bytes()).unwrap();
            assert_eq!(sign.as_str(), v["sign"].as_str().unwrap(), "{name}");
        }
        let result = CloseOrderV2::new("1415983244").parse(
            &ctx,
            &wxpay_core::ReplayGuard::new(),
            0,
            answer(xml),
        );
        match name {
            "success_md5" => assert_eq!(result.unwrap(), CloseOutcome::Closed),
            "orderpaid_hmac" => assert_eq!(result.unwrap(), CloseOutcome::Paid),
            "tampered_md5" => {
                assert!(
                    matches!(
                        result.as_ref().map_err(Error::kind),
                        Err(ErrorKind::Verify(VerifyError::BadSignature))
                    ),
                    "{result:?}"
                )
            }
            "return_fail_unsigned" => match result.map_err(Error::into_kind) {
                Err(ErrorKind::Communication { return_msg }) => assert_eq!(return_msg, "SIGNERROR"),
                other => panic!("{other:?}"),
            },
            other => panic!("a new vector {other}: teach this test its verdict"),
        }
        assert_eq!(v["valid"].as_bool().unwrap(), name != "tampered_md5");
    }
}

/// Builds a signed success-envelope answer with the given business fields.
fn signed_answer(sign_type: SignType, extra: &[(&str, &str)], plain_text: bool) -> String {
    let key = ApiV2Key::new("192006250b4c09247ec02edce69f6a2d").unwrap();
    let mut fields = vec![
        ("return_code", "SUCCESS"),
        ("return_msg", "OK"),
        ("appid", "wx2421b1c4370ec43b"),
        ("mch_id", "10000100"),
        ("nonce_str", "BFK89FC6rxKCOjLX"),
    ];
    fields.extend_from_slice(extra);
    let sign = v2::sign_fields(&key, sign_type, fields.iter().copied()).unwrap();
    let mut xml = String::from("<xml>");
    for (k, v) in fields.iter().copied().chain([("sign", sign.as_str())]) {
        if plain_text {
            let escaped = v.replace('&', "&amp;").replace('<', "&lt;");
            xml.push_str(&format!("<{k}>{escaped}</{k}>"));
        } else {
            xml.push_str(&format!("<{k}><![CDATA[{v}]]></{k}>"));
        }
    }
    xml.push_str("</xml>");
    xml
}

fn fail(code: &'static str) -> Vec<(&'static str, &'static str)> {
    vec![("result_code", "FAIL"), ("err_code", code), ("err_code_des", "描述 & <detail>")]
}

#[test]
fn every_outcome_and_error_kind_from_real_xml() {
    for st in [SignType::Md5, SignType::HmacSha256] {
        for plain in [false, true] {
            let ctx = ctx_for(st);
            let close = CloseOrderV2::new("1415983244");
            let run = |extra: &[(&str, &str)]| {
                close.parse(
                    &ctx,
                    &wxpay_core::ReplayGuard::new(),
                    0,
                    answer(&signed_answer(st, extra, plain)),
                )
            };

            assert_eq!(run(&[("result_code", "SUCCESS")]).unwrap(), CloseOutcome::Closed);
            assert_eq!(run(&fail("ORDERCLOSED")).unwrap(), CloseOutcome::AlreadyClosed);
            assert_eq!(run(&fail("ORDERNOTEXIST")).unwrap(), CloseOutcome::NotFound);
            assert_eq!(run(&fail("ORDERPAID")).unwrap(), CloseOutcome::Paid);
            for (code, typed, retry) in [
                ("SYSTEMERROR", ApiCode::SystemError, true),
                ("SIGNERROR", ApiCode::SignError, false),
                ("REQUIRE_POST_METHOD", ApiCode::RequirePostMethod, false),
                ("XML_FORMAT_ERROR", ApiCode::XmlFormatError, false),
                ("BRAND_NEW_CODE", ApiCode::Other("BRAND_NEW_CODE".into()), false),
            ] {
                let err = run(&fail(code)).unwrap_err();
                let api = err.api().unwrap_or_else(|| panic!("{code}: {err:?}"));
                assert_eq!(api.code, typed);
                assert_eq!(api.message, "描述 & <detail>", "entities decoded");
                assert!(api.verified);
                assert_eq!(api.is_retryable(), retry, "{code}");
            }
            // Unknown fields are signed like the rest and otherwise ignored.
            assert_eq!(
                run(&[("result_code", "SUCCESS"), ("zz_new_field", "x")]).unwrap(),
                CloseOutcome::Closed
            );
        }
    }
}

#[test]
fn signatures_missing_tampered_or_of_the_wrong_algorithm_are_rejected() {
    let ok = signed_answer(SignType::Md5, &[("result_code", "SUCCESS")], false);
    let close = CloseOrderV2::new("1415983244");

    // Wrong algorithm: an MD5-signed answer to an HMAC-SHA256 request.
    let err = close
        .parse(&ctx_for(SignType::HmacSha256), &wxpay_core::ReplayGuard::new(), 0, answer(&ok))
        .unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Verify(VerifyError::BadSignature)), "{err:?}");

    // Missing sign.
    let start = ok.find("<sign>").unwrap();
    let end = ok.find("</sign>").unwrap() + "</sign>".len();
    let unsigned = format!("{}{}", &ok[..start], &ok[end..]);
    let err = close
        .parse(&ctx_for(SignType::Md5), &wxpay_core::ReplayGuard::new(), 0, answer(&unsigned))
        .unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Verify(VerifyError::MissingSign)), "{err:?}");

    // Lower-case hex of the right signature is not the signature that was sent.
    let sign = &ok[start + "<sign><![CDATA[".len()..end - "]]></sign>".len()];
    let lowered = ok.replace(sign, &sign.to_lowercase());
    let err = close
        .parse(&ctx_for(SignType::Md5), &wxpay_core::ReplayGuard::new(), 0, answer(&lowered))
        .unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Verify(VerifyError::BadSignature)), "{err:?}");

    // Tampered: flip the business result after signing.
    let tampered =
        signed_answer(SignType::Md5, &fail("ORDERPAID"), false).replace("ORDERPAID", "ORDERCLOSED");
    let err = close
        .parse(&ctx_for(SignType::Md5), &wxpay_core::ReplayGuard::new(), 0, answer(&tampered))
        .unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Verify(VerifyError::BadSignature)), "{err:?}");

    // Signed with another key.
    let other_key = ApiV2Key::new("00000000000000000000000000000000").unwrap();
    let other = Context::new()
        .with_v2(V2Credentials::new("wx2421b1c4370ec43b", "10000100", other_key).unwrap());
    let err = close.parse(&other, &wxpay_core::ReplayGuard::new(), 0, answer(&ok)).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Verify(VerifyError::BadSignature)), "{err:?}");
}

#[test]
fn a_correctly_signed_answer_for_another_merchant_is_rejected() {
    let key = ApiV2Key::new("192006250b4c09247ec02edce69f6a2d").unwrap();
    let ctx =
        Context::new().with_v2(V2Credentials::new("wx2421b1c4370ec43b", "99999999", key).unwrap());
    let ok = signed_answer(SignType::Md5, &[("result_code", "SUCCESS")], false);
    let err = CloseOrderV2::new("1415983244")
        .parse(&ctx, &wxpay_core::ReplayGuard::new(), 0, answer(&ok))
        .unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::Verify(VerifyError::Mismatch { field: "mch_id" })),
        "{err:?}"
    );

    // Institutional: the answer's sub_mch_id must be the one we named.
    let ctx = ctx_for(SignType::Md5);
    let ok = signed_answer(
        SignType::Md5,
        &[("result_code", "SUCCESS"), ("sub_mch_id", "1900000110")],
        false,
    );
    let close = CloseOrderV2::new("1415983244").for_sub_merchant("1900000999");
    let err = close.parse(&ctx, &wxpay_core::ReplayGuard::new(), 0, answer(&ok)).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::Verify(VerifyError::Mismatch { field: "sub_mch_id" })),
        "{err:?}"
    );
    let close = CloseOrderV2::new("1415983244").for_sub_merchant("1900000110");
    assert_eq!(
        close.parse(&ctx, &wxpay_core::ReplayGuard::new(), 0, answer(&ok)).unwrap(),
        CloseOutcome::Closed
    );
}

#[test]
fn undecodable_answers_keep_their_bytes() {
    let ctx = ctx_for(SignType::Md5);
    let close = CloseOrderV2::new("1415983244");
    for body in ["", "not xml", "<xml><return_code>MAYBE</return_code></xml>", "<xml></xml>"] {
        match close
            .parse(&ctx, &wxpay_core::ReplayGuard::new(), 0, answer(body))
            .map_err(Error::into_kind)
        {
            Err(ErrorKind::Decode(d)) => assert_eq!(d.body, body.as_bytes()),
            other => panic!("{body:?}: {other:?}"),
        }
    }
    let big = format!("<xml>{}</xml>", " ".repeat(wxpay_core::MAX_RESPONSE_BODY));
    assert!(matches!(
        close
            .parse(&ctx, &wxpay_core::ReplayGuard::new(), 0, answer(&big))
            .map_err(Error::into_kind),
        Err(ErrorKind::Decode(_))
    ));

    let gateway = http::Response::builder().status(502).body(b"bad gateway".to_vec()).unwrap();
    let err = close.parse(&ctx, &wxpay_core::ReplayGuard::new(), 0, gateway).unwrap_err();
    let api = err.api().unwrap();
    assert_eq!((api.status, api.verified, api.is_retryable()), (502, false, true));
}

#[test]
fn bad_input_is_refused_before_anything_is_built() {
    let ctx = ctx_for(SignType::Md5);
    let base = BaseUrl::parse(BaseUrl::PRIMARY).unwrap();
    let at = |nonce| Attempt::new(&base, 1_700_000_000, nonce);
    let nonce = "4ca93f17ddf3443ceabf72f26d64fe0e";
    let err = |op: CloseOrderV2, nonce| match op.build(&ctx, &at(nonce)).map_err(Error::into_kind) {
        Err(ErrorKind::InvalidInput(e)) => e,
        other => panic!("{other:?}"),
    };
    assert_eq!(err(CloseOrderV2::new(""), nonce), InvalidInput::Empty { field: "out_trade_no" });
    assert_eq!(
        err(CloseOrderV2::new("a".repeat(33)), nonce),
        InvalidInput::TooLong { field: "out_trade_no", max: 32, len: 33 }
    );
    assert_eq!(
        err(CloseOrderV2::new("order#1"), nonce),
        InvalidInput::BadCharacter { field: "out_trade_no", character: '#', position: 5 }
    );
    assert!(CloseOrderV2::new("a_b-c|d*e@f").build(&ctx, &at(nonce)).is_ok());
    let long_nonce = "n".repeat(33);
    assert_eq!(
        err(CloseOrderV2::new("1"), &long_nonce),
        InvalidInput::TooLong { field: "nonce_str", max: 32, len: 33 }
    );
    assert_eq!(
        err(CloseOrderV2::new("1").with_sub_appid("wx1"), nonce),
        InvalidInput::MissingSubMchId
    );
    assert_eq!(
        err(CloseOrderV2::new("1").for_sub_merchant("x".repeat(33)), nonce),
        InvalidInput::TooLong { field: "sub_mch_id", max: 32, len: 33 }
    );
    assert_eq!(
        err(CloseOrderV2::new("1").created_at(1_700_000_000 - 60), nonce),
        InvalidInput::TooEarly { wait_secs: 240 }
    );
    assert!(CloseOrderV2::new("1").created_at(1_700_000_000 - 300).build(&ctx, &at(nonce)).is_ok());

    let no_v2 = Context::new();
    assert!(matches!(
        CloseOrderV2::new("1").build(&no_v2, &at(nonce)).map_err(Error::into_kind),
        Err(ErrorKind::InvalidInput(InvalidInput::MissingCredentials { api: "v2" }))
    ));
    assert_eq!(
        V2Credentials::new("", "1", ApiV2Key::new("192006250b4c09247ec02edce69f6a2d").unwrap())
            .unwrap_err(),
        InvalidInput::Empty { field: "appid" }
    );
    // Ids are sent exactly as given: XML specials are refused, not escaped.
    let key = || ApiV2Key::new("192006250b4c09247ec02edce69f6a2d").unwrap();
    assert_eq!(
        V2Credentials::new("wx<1", "1", key()).unwrap_err(),
        InvalidInput::BadCharacter { field: "appid", character: '<', position: 2 }
    );
    assert_eq!(
        err(CloseOrderV2::new("1").for_sub_merchant("19&00"), nonce),
        InvalidInput::BadCharacter { field: "sub_mch_id", character: '&', position: 2 }
    );
}

#[test]
fn the_key_never_shows_in_debug_or_errors() {
    let secret = "192006250b4c09247ec02edce69f6a2d";
    let ctx = ctx_for(SignType::HmacSha256);
    let shown = format!("{ctx:?} {ctx:#?}");
    assert!(!shown.contains(secret) && !shown.contains("192006250b4c"), "{shown}");
    let err = CloseOrderV2::new("1").parse(
        &ctx,
        &wxpay_core::ReplayGuard::new(),
        0,
        answer("<xml><return_code>SUCCESS</return_code></xml>"),
    );
    let shown = format!("{err:?} {}", err.as_ref().unwrap_err());
    assert!(!shown.contains(secret), "{shown}");
}
