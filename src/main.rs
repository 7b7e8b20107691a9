//! The `patchwork-gateway` binary: prepare the process, parse the command line and dispatch.
//!
//! The binary defines the C `main` itself (`no_main`) instead of going through Rust's start-up,
//! because that start-up costs the hook about a tenth of a millisecond per tool call
//! (`cargo bench --bench hook`): it reads `/proc/self/maps` to place the main thread's stack
//! guard and maps an alternate signal stack. The parts of it that matter here are done by
//! [`patchwork_gateway::cli::prepare_process`] and below: closed standard descriptors are
//! reopened on `/dev/null`, SIGPIPE gets the disposition each command needs, and a panic that
//! escapes ends the process with code 101 after its message, as Rust's start-up would.
//! Arguments and the environment are still read by `std::env` (glibc hands them to Rust's
//! standard library before `main`).

#![no_main]

use std::ffi::{c_char, c_int};

#[unsafe(no_mangle)]
extern "C" fn main(_argc: c_int, _argv: *const *const c_char) -> c_int {
    patchwork_gateway::cli::prepare_process();
    patchwork_gateway::proxy::builtin::contain::keeper_if_asked();
    let code = std::panic::catch_unwind(patchwork_gateway::cli::main).unwrap_or(101);
    // `exit` (not a return to libc) so that Rust's buffered stdout is flushed.
    std::process::exit(code)
}
