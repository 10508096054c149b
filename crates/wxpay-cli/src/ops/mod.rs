//! What the commands do, apart from how they are asked (as cargo's `ops/` under its
//! `commands/`): close one order, close many ([`bulk`]), keep platform certificates on disk,
//! run the sandbox and the demo. Protocol rules are the core's; nothing here parses a flag.

pub(crate) mod bulk;
pub(crate) mod certificates;
pub(crate) mod check;
pub(crate) mod close;
pub(crate) mod demo;
pub(crate) mod query;
pub(crate) mod sandbox;
