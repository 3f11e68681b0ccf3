//! `mallard serve`: bind, serve, and shut down gracefully on SIGINT/SIGTERM.

use clap::Args;
use mallard_server::launch;

use crate::CommonArgs;

/// Flags of `mallard serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// The address to listen on (default 127.0.0.1).
    #[arg(long)]
    host: Option<String>,
    /// The port to listen on (default 8000; 0 picks a free port).
    #[arg(long)]
    port: Option<u16>,
}

/// Runs the server until a shutdown signal.
pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let config = args.common.load(args.host, args.port)?;
    launch::init_logging(config.log_format);
    launch::serve_until_signal(config)?;
    Ok(())
}
