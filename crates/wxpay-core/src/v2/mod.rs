//! APIv2: XML over `POST`, signed with MD5 or HMAC-SHA256 and the API v2 key.

mod answer;
mod close;
mod credentials;
mod query;
mod sign;
mod xml;

pub use answer::CONTENT_TYPE_XML;
pub use close::{CloseOrderV2, PATH as CLOSE_PATH, check_close_request};
pub use credentials::V2Credentials;
pub use query::{QUERY_PATH, QueryOrderV2};
pub use sign::{
    SignType, V2Signature, V2Signer, payload, sign_fields, verify_fields, write_payload,
};
pub use xml::{V2Fields, xml_document};
