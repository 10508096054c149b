//! `wxpay certificates`: download WeChat Pay's platform certificates, verify them, and write
//! one PEM file per serial (`ops::certificates`).

use std::path::PathBuf;

use crate::settings::{self, Purpose, Settings};
use crate::{Failure, ops};

#[derive(clap::Args, Debug)]
pub(crate) struct CertificatesArgs {
    /// Where to write the certificates, `<SERIAL>.pem` each (written whole or not at all);
    /// the directory is this merchant's from then on (`.wxpay-owner`). Required: the working
    /// directory is often the merchant's key directory.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// The cross-border list (`GET /v3/global/certificates`, at the Hong Kong host).
    #[arg(long)]
    global: bool,
    #[command(flatten)]
    pub(crate) settings: Settings,
}

pub(crate) fn run(args: CertificatesArgs) -> Result<u8, Failure> {
    let settings = args.settings.resolve()?;
    if settings.api_v3_key_file.is_none() {
        let mut message = "downloading platform certificates needs the APIv3 key: --api-v3-key-file (WXPAY_API_V3_KEY_FILE, or `api_v3_key_file` in --config)".to_owned();
        if let Some(note) = settings::set_aside_note(&settings, &message) {
            message.push_str(&note);
        }
        return Err(Failure::usage(message));
    }
    settings::require(&settings, settings::Api::V3)?;
    // The list is downloaded here, once: the configuration refreshes nothing by itself.
    let built = settings::builder(&settings, Purpose::DownloadCertificates)?;
    let config = built.builder.build().map_err(|e| Failure::usage(e.to_string()))?;
    let owner = settings::certificate_owner(&settings);
    // Said once the --out directory is accepted, just before the list is asked for.
    let note = settings::destination_note(&config);
    ops::certificates::download(config, args.global, &args.out, &owner, note)
}
