//! The `patchwork-gateway` binary: parse the command line and dispatch.

fn main() {
    std::process::exit(patchwork_gateway::cli::main());
}
