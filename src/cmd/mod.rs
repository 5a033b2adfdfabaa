//! One module per subcommand.

pub mod check;
pub mod run;
pub mod verify_logs;
mod trim;
