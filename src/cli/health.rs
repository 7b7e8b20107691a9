//! `doctor` and `status`.

use super::{Ctx, not_implemented};
use clap::Args;

/// Options of `doctor`.
#[derive(Debug, Args)]
pub struct DoctorArgs {}

/// Options of `status`.
#[derive(Debug, Args)]
pub struct StatusArgs {}

/// Health checks.
pub fn doctor(_ctx: &Ctx, _args: DoctorArgs) -> anyhow::Result<i32> {
    not_implemented("doctor")
}

/// What is enforced now.
pub fn status(_ctx: &Ctx, _args: StatusArgs) -> anyhow::Result<i32> {
    not_implemented("status")
}
