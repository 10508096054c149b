//! `wxpay demo`: no arguments; the demo is [`crate::ops::demo`].

use crate::Failure;

pub(crate) fn run() -> Result<u8, Failure> {
    crate::ops::demo::run()
}
