//! One module per subcommand.

pub mod bench;
pub mod check;
pub mod gate;
pub mod history;
pub mod run;
pub mod view;

use anyhow::Result;

use crate::Host;
use crate::cli::{Cli, Command};

pub fn dispatch(cli: Cli, host: &Host) -> Result<i32> {
    match cli.command {
        Command::Run(args) => run::run(args, host),
        Command::View(args) => view::view(args),
        Command::Check(args) => check::check(args),
        Command::Bench(args) => bench::bench(args, host),
        Command::History(args) => history::history(args),
        Command::Gate(args) => gate::gate(args),
    }
}
