//! `demo`: a scripted agent session through the real doors.

use super::{Ctx, not_implemented};
use clap::Args;

/// Options of `demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {}

/// Runs the demo.
pub fn run(_ctx: &Ctx, _args: DemoArgs) -> anyhow::Result<i32> {
    not_implemented("demo")
}
