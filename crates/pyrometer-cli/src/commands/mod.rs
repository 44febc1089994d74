//! One module per subcommand.

pub mod bench;
pub mod check;
pub mod dump;
pub mod gate;
pub mod history;
pub mod record;
pub mod run;
pub mod top;
pub mod view;

use anyhow::Result;

use crate::Host;
use crate::cli::{Cli, Command};

pub fn dispatch(cli: Cli, host: &Host) -> Result<i32> {
    match cli.command {
        Command::Run(args) => run::run(args, host),
        Command::View(args) => view::view(args),
        Command::Check(args) => check::check(args),
        Command::Record(args) => record::record(args),
        Command::Dump(args) => dump::dump(args),
        Command::Top(args) => top::top(args, host),
        Command::Bench(args) => bench::bench(args, host),
        Command::History(args) => history::history(args),
        Command::Gate(args) => gate::gate(args),
    }
}
