//! The subcommands: each parses its arguments and calls the operations in [`crate::ops`]
//! (as cargo's `commands/` over `ops/`).

pub(crate) mod certificates;
pub(crate) mod check;
pub(crate) mod close;
pub(crate) mod demo;
pub(crate) mod query;
pub(crate) mod sandbox;
pub(crate) mod sign;
