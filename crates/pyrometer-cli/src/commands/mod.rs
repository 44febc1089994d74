//! One module per subcommand.

pub mod run;
pub mod view;

use anyhow::Result;

use crate::Host;
use crate::cli::{Cli, Command};

pub fn dispatch(cli: Cli, host: &Host) -> Result<i32> {
    match cli.command {
        Command::Run(args) => run::run(args, host),
        Command::View(args) => view::view(args),
    }
}
